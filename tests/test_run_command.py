"""`drumbeat run` as an admin types it, against the fake HubSpot and Slack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.cli import run_drumbeat
from tests.conftest import BOT_TOKEN, HUBSPOT_TOKEN, SIGNING_SECRET
from tests.deal_scenario import seed
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.test_rituals_engine import RITUALS, TUESDAY_9

NOW = "2026-11-24T09:00:00+01:00"


def _env(tmp_path: Path, sqlite_url: str, slack: FakeSlack, hubspot: FakeHubSpot) -> dict[str, str]:
    rituals = tmp_path / "rituals.yaml"
    rituals.write_text(RITUALS)
    return {
        "DATABASE_URL": sqlite_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
        "HUBSPOT_API_URL": hubspot.url,
        "RITUALS_FILE": str(rituals),
    }


def test_dry_run_prints_the_dms_then_a_real_run_sends_them_once(
    tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    seed(fake_hubspot, fake_slack, now=TUESDAY_9)
    env = _env(tmp_path, sqlite_url, fake_slack, fake_hubspot)
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0

    dry = run_drumbeat("run", "stale-deals", "--now", NOW, "--dry-run", env=env, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    assert "DM to Alice (U0ALICE), now" in dry.stdout
    assert "Hi Alice! 2 of your 3 open deals are fresh — 1 needs a look." in dry.stdout
    assert "Initech" in dry.stdout
    assert "[Still on track] [Update…] [Snooze ▾] [Mark lost]" in dry.stdout
    assert dry.stdout.strip().endswith("stale-deals: would DM 1 person.")
    assert fake_slack.calls_to("chat.postMessage") == []
    assert BOT_TOKEN not in dry.stdout + dry.stderr

    real = run_drumbeat("run", "stale-deals", "--now", NOW, env=env, cwd=tmp_path)
    assert real.returncode == 0, real.stderr
    assert real.stdout.strip() == "stale-deals: queued DMs for 1 person; 1 DM delivered now."
    again = run_drumbeat("run", "stale-deals", "--now", NOW, env=env, cwd=tmp_path)
    assert (
        again.stdout.strip() == "stale-deals: the firing at 2026-11-24 08:00 UTC already ran; nothing to do."
    )
    assert len(fake_slack.messages_in("U0ALICE")) == 1


def test_an_unknown_ritual_or_a_broken_file_is_a_clear_error(
    tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    env = _env(tmp_path, sqlite_url, fake_slack, fake_hubspot)
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    unknown = run_drumbeat("run", "stale-deal", "--now", NOW, env=env, cwd=tmp_path)
    assert unknown.returncode == 1
    assert "stale-deal" in unknown.stderr
    assert "did you mean stale-deals" in unknown.stderr
    Path(env["RITUALS_FILE"]).write_text("timezone: Paris/Europe\nrituals: []\n")
    broken = run_drumbeat("run", "stale-deals", env=env, cwd=tmp_path)
    assert broken.returncode == 1
    assert "rituals.yaml:1: timezone: " in broken.stderr
    assert "Europe/Paris" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_a_run_over_5000_deals_and_50_reps_makes_at_most_3_hubspot_requests(
    tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    fake_hubspot.add_default_pipeline()
    start = datetime(2026, 6, 1, tzinfo=UTC)
    for rep in range(50):
        fake_hubspot.add_owner(str(3000 + rep), f"rep{rep}@acme.example", "Rep", str(rep))
        fake_slack.add_user(f"U{rep:05d}", f"rep{rep}@acme.example", f"Rep {rep}", tz="Europe/Paris")

    def deal(i: int) -> dict[str, str | None]:
        touched = start + timedelta(hours=i)  # from June to November: a mix of stale and fresh
        stamp = str(int(touched.timestamp() * 1000))
        return {
            "dealname": f"Deal {i}",
            "pipeline": "default",
            "dealstage": "qualifiedtobuy",
            "amount": str(1000 + i),
            "hubspot_owner_id": str(3000 + i % 50),
            "notes_last_updated": stamp,
            "createdate": stamp,
            "hs_lastmodifieddate": stamp,
        }

    fake_hubspot.add_deals_bulk(5000, deal)
    env = _env(tmp_path, sqlite_url, fake_slack, fake_hubspot)
    env["HUBSPOT_REQUESTS_PER_10S"] = "10000"
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    assert run_drumbeat("sync", env=env, cwd=tmp_path).returncode == 0  # the mirror is fresh
    fake_hubspot.reset_requests()
    result = run_drumbeat("run", "stale-deals", "--now", NOW, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "queued DMs for 50 people" in result.stdout
    requests = fake_hubspot.request_count()
    print(f"\nstale-deals over 5,000 deals and 50 reps: {requests} HubSpot request(s)")
    assert requests <= 3
    assert len(fake_slack.calls_to("chat.postMessage")) == 50


def test_check_config_names_unknown_stages_against_the_crm_and_summarises_a_good_file(
    tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    seed(fake_hubspot, fake_slack, now=TUESDAY_9)
    env = _env(tmp_path, sqlite_url, fake_slack, fake_hubspot)
    good = run_drumbeat("check-config", "--now", NOW, env=env, cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert "stale-deals" in good.stdout
    assert "next: Wed 25 Nov 09:00, Thu 26 Nov 09:00, Fri 27 Nov 09:00" in good.stdout  # strictly after --now
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text(
        RITUALS.replace("- {check: close_date_past}", "- {check: missing, field: amount, stages: [contrct]}")
    )
    bad = run_drumbeat("check-config", str(bad_file), env=env, cwd=tmp_path)
    assert bad.returncode == 1
    line = next(n for n, text in enumerate(bad_file.read_text().splitlines(), 1) if "contrct" in text)
    assert f"{bad_file}:{line}: rituals[deal-hygiene].rules[0].stages[0]:" in bad.stderr
    assert "contractsent" in bad.stderr


def test_check_config_lists_crm_owners_nobody_can_dm(
    tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    seed(fake_hubspot, fake_slack, now=TUESDAY_9)
    fake_hubspot.add_owner("104", "david@acme.example", "David", "Okafor")  # not in Slack
    env = _env(tmp_path, sqlite_url, fake_slack, fake_hubspot)
    result = run_drumbeat("check-config", "--now", NOW, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning: no Slack match for CRM owner David Okafor (david@acme.example)" in result.stderr
    assert "Alice" not in result.stderr


def test_serve_refuses_a_broken_rituals_file_with_every_problem(
    tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    env = _env(tmp_path, sqlite_url, fake_slack, fake_hubspot)
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    Path(env["RITUALS_FILE"]).write_text(
        "timezone: Europe/Paris\nrituals:\n  - id: nudges\n    kind: stale_deals\n"
        '    schedule: "0 9 * * * *"\n    stale_after_days: soon\n'
    )
    result = run_drumbeat("serve", "--port", "0", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "rituals.yaml:5: rituals[nudges].schedule: cron has 6 fields" in result.stderr
    assert "rituals.yaml:6: rituals[nudges].stale_after_days:" in result.stderr
    assert "Traceback" not in result.stderr
