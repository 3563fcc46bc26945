"""`drumbeat init`, `drumbeat manifest` and missing permissions named, as a new admin runs them,
against the fake HubSpot and Slack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.manifest import required_bot_scopes
from integrations.hubspot import REQUIRED_SCOPES
from tests.cli import run_drumbeat
from tests.conftest import BOT_TOKEN, HUBSPOT_TOKEN, SIGNING_SECRET
from tests.deal_scenario import seed
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.hubspot_helpers import fast_adapter
from tests.test_rituals_engine import TUESDAY_9

NOW = "2026-11-24T09:00:00+01:00"


def _env(tmp_path: Path, slack: FakeSlack, hubspot: FakeHubSpot) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'drumbeat.db'}",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
        "HUBSPOT_API_URL": hubspot.url,
    }


def _workspace(hubspot: FakeHubSpot, slack: FakeSlack) -> None:
    """The deal scenario's team, one owner nobody has in Slack, one whose account is deactivated,
    and a few channels, one of them without Drumbeat."""
    seed(hubspot, slack, now=TUESDAY_9)
    hubspot.add_owner("104", "david@acme.example", "David", "Okafor")
    hubspot.add_owner("105", "emma@acme.example", "Emma", "Roux")
    hubspot.add_owner("106", "gone@acme.example", "Old", "Owner", archived=True)
    slack.add_user("U0EMMA", "emma@acme.example", "Emma Roux", deleted=True)
    slack.add_channel("C0GENERAL", "general")
    slack.add_channel("C0RANDOM", "random")
    slack.add_channel("C0SALES", "sales-team")
    slack.add_channel("C0MANAGERS", "sales-managers", bot_is_member=False)
    slack.add_channel("C0OLD", "sales-2019", is_archived=True)


@pytest.fixture
def workspace(fake_hubspot: FakeHubSpot, fake_slack: FakeSlack) -> None:
    _workspace(fake_hubspot, fake_slack)


def _people(text: str) -> dict[str, Any]:
    return {p["crm_owner"]: p for p in yaml.safe_load(text)["people"]}


@pytest.mark.usefixtures("workspace")
def test_init_yes_writes_a_file_that_checks_and_whose_nudges_go_out(
    tmp_path: Path, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    env = _env(tmp_path, fake_slack, fake_hubspot)
    result = run_drumbeat("init", "--yes", "--admin", "OPS@acme.example", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    print(result.stdout, result.stderr, sep="\n")  # the admin's view, for the record
    written = tmp_path / "rituals.yaml"
    text = written.read_text()
    config = yaml.safe_load(text)

    # Every active owner: matched ones by Slack id, the others commented out with why.
    assert _people(text) == {
        "101": {"crm_owner": "101", "slack": "U0ALICE"},
        "102": {"crm_owner": "102", "slack": "U0BRUNO"},
        "103": {"crm_owner": "103", "slack": "U0CHLOE"},
    }
    assert '# - crm_owner: "104"' in text
    assert "David Okafor: no Slack user has the email david@acme.example" in text
    assert '# - crm_owner: "105"' in text
    assert "Emma Roux: the Slack account with emma@acme.example (U0EMMA) is deactivated" in text
    assert '"106"' not in text  # archived owners are not people any more
    assert "David Okafor: no Slack user has the email david@acme.example" in result.stdout

    # The portal's pipelines and stages, with their labels in comments.
    assert "#   default: Sales Pipeline" in text
    assert "#     contractsent: Contract Sent, 90%" in text
    rituals = {r["id"]: r for r in config["rituals"]}
    assert {r["kind"] for r in rituals.values()} == {
        "stale_deals",
        "pipeline_digest",
        "hygiene",
        "one_on_one_prep",
        "adoption_report",
        "deal_alert",
    }
    assert rituals["stale-deals"]["pipelines"] == ["default"]
    assert rituals["deal-hygiene"]["rules"][2]["stages"] == [
        "presentationscheduled",
        "decisionmakerboughtin",
        "contractsent",
    ]
    assert rituals["big-wins"]["when"]["stage_becomes"] == ["closedwon"]
    # Two Paris reps and one in New York: the team's zone.
    assert config["timezone"] == "Europe/Paris"
    assert config["admins"] == ["ops@acme.example"]

    # Channels that exist, by name; the one Drumbeat is not in says to invite it.
    assert rituals["weekly-digest"]["channel"] == "#sales-team"
    assert rituals["adoption"]["channel"] == "#sales-managers"
    assert "/invite @Drumbeat in #sales-managers" in result.stdout
    assert "/invite @Drumbeat in #sales-managers" in text

    # init checked it, then said what to run next.
    assert "stale-deals" in result.stdout and "next: " in result.stdout
    assert "drumbeat migrate" in result.stdout
    assert "drumbeat run stale-deals --dry-run" in result.stdout
    assert BOT_TOKEN not in result.stdout + result.stderr
    assert HUBSPOT_TOKEN not in result.stdout + result.stderr

    checked = run_drumbeat("check-config", "--now", NOW, env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "warning: no Slack match for CRM owner David Okafor" in checked.stderr

    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    run = run_drumbeat("run", "stale-deals", "--now", NOW, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "stale-deals: queued DMs for 1 person; 1 DM delivered now."
    (nudge,) = fake_slack.messages_in("U0ALICE")
    assert "Initech" in str(nudge)
    assert fake_slack.messages_in("U0BRUNO") == []


@pytest.mark.usefixtures("workspace")
def test_init_never_overwrites_a_rituals_file(
    tmp_path: Path, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    env = _env(tmp_path, fake_slack, fake_hubspot)
    existing = tmp_path / "team.yaml"
    existing.write_text("timezone: Europe/Paris\nrituals: []\n")
    result = run_drumbeat("init", "team.yaml", "--yes", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: team.yaml already exists, and init never overwrites")
    assert len(result.stderr.strip().splitlines()) == 1
    assert existing.read_text() == "timezone: Europe/Paris\nrituals: []\n"
    assert fake_slack.calls == []  # nothing was even read


@pytest.mark.usefixtures("workspace")
def test_init_to_another_path_says_how_to_point_at_it_and_without_admin_leaves_a_placeholder(
    tmp_path: Path, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    env = _env(tmp_path, fake_slack, fake_hubspot)
    result = run_drumbeat(
        "init", "config/team.yaml", "--yes", "--admin", "nobody@acme.example", env=env, cwd=tmp_path
    )
    assert result.returncode == 1, "the folder does not exist"
    assert "could not write config/team.yaml" in result.stderr
    (tmp_path / "config").mkdir()
    result = run_drumbeat(
        "init", "config/team.yaml", "--yes", "--admin", "nobody@acme.example", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "config" / "team.yaml").read_text()
    assert yaml.safe_load(text)["admins"] == []
    assert "# admins: [you@yourcompany.com]" in text
    assert "--admin nobody@acme.example: no Slack user has the email nobody@acme.example" in text
    assert "RITUALS_FILE=config/team.yaml drumbeat run stale-deals --dry-run" in result.stdout


def test_missing_scopes_are_named_by_init_check_config_and_status(
    tmp_path: Path, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    _workspace(fake_hubspot, fake_slack)
    fake_slack.remove_scope("users:read.email")
    fake_slack.remove_scope("files:write")
    fake_hubspot.remove_scope("crm.objects.contacts.write")
    env = _env(tmp_path, fake_slack, fake_hubspot)

    init = run_drumbeat("init", "--yes", env=env, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert (
        "warning: the Slack bot token lacks scope users:read.email, files:write: add them at " in init.stderr
    )
    assert "OAuth & Permissions > Bot Token Scopes" in init.stderr
    assert (
        "warning: the HubSpot token lacks scope crm.objects.contacts.write: add them to the service key"
        in (init.stderr)
    )
    text = (tmp_path / "rituals.yaml").read_text()
    assert "Alice Martin: not looked up: the Slack token lacks users:read.email" in text
    assert fake_hubspot.notes == {}  # the write probe created nothing

    checked = run_drumbeat("check-config", env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "lacks scope crm.objects.contacts.write" in checked.stderr
    assert "Slack: the bot token lacks scope users:read.email, files:write" in checked.stderr

    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    status = run_drumbeat("status", env=env, cwd=tmp_path)
    assert status.returncode == 1
    assert "HubSpot: the HubSpot token lacks scope crm.objects.contacts.write" in status.stdout
    assert "Slack: the bot token lacks scope users:read.email, files:write" in status.stdout


@pytest.mark.parametrize("scope", REQUIRED_SCOPES)
def test_the_hubspot_probe_names_each_scope_drumbeat_needs_and_writes_nothing(
    fake_hubspot: FakeHubSpot, fake_slack: FakeSlack, scope: str
) -> None:
    seed(fake_hubspot, fake_slack, now=TUESDAY_9)
    crm = fast_adapter(fake_hubspot)
    before = {deal.id: deal for page in crm.iter_deals() for deal in page.deals}
    assert crm.missing_scopes() == []
    fake_hubspot.remove_scope(scope)
    assert crm.missing_scopes() == [scope]
    fake_hubspot.scopes.add(scope)
    assert {deal.id: deal for page in crm.iter_deals() for deal in page.deals} == before
    assert fake_hubspot.notes == {}


def test_the_slack_scopes_checked_are_those_the_manifest_asks_for() -> None:
    assert required_bot_scopes() == [
        "commands",
        "chat:write",
        "im:write",
        "users:read",
        "users:read.email",
        "channels:read",
        "groups:read",
        "files:write",
        "usergroups:read",
    ]


def test_manifest_with_a_url_is_ready_to_paste(tmp_path: Path) -> None:
    result = run_drumbeat("manifest", "--url", "https://drumbeat.acme.com/", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    manifest = yaml.safe_load(result.stdout)
    events = "https://drumbeat.acme.com/slack/events"
    assert manifest["settings"]["event_subscriptions"]["request_url"] == events
    assert manifest["settings"]["interactivity"]["request_url"] == events
    assert [c["url"] for c in manifest["features"]["slash_commands"]] == [events]
    assert "example.com" not in result.stdout
    assert manifest["oauth_config"]["scopes"]["bot"] == required_bot_scopes()
    # A pasted events URL, or a path prefix behind a proxy, work too.
    pasted = run_drumbeat("manifest", "--url", "https://drumbeat.acme.com/slack/events", cwd=tmp_path)
    assert pasted.stdout == result.stdout
    prefixed = run_drumbeat("manifest", "--url", "https://acme.com:8443/drumbeat", cwd=tmp_path)
    assert "request_url: https://acme.com:8443/drumbeat/slack/events" in prefixed.stdout


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://drumbeat.acme.com", "is not https"),
        ("drumbeat.acme.com", "is not https"),
        ("https://", "no valid public host name"),
        ("https://drumbeat acme.com", "is not a URL"),
        ("https://localhost", "no valid public host name"),
        ("https://drumbeat.acme.com/?x=1", "must not carry a query"),
    ],
)
def test_manifest_refuses_a_url_slack_cannot_use(tmp_path: Path, url: str, says: str) -> None:
    result = run_drumbeat("manifest", "--url", url, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
