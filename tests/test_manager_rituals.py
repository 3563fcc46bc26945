"""The manager rituals end to end, as a sales team would see them in Slack.

The real engine (built by create_runtime), the real slack_sdk client against FakeSlack and the real
HubSpot adapter against FakeHubSpot; time is injected everywhere (the app, the fake CRM's writes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import create_db_engine, migrate
from core.mirror.sync import sync_mirror
from core.models import RitualFiring
from rituals.config import parse_rituals_text
from tests.cli import run_drumbeat
from tests.conftest import (
    BOT_TOKEN,
    HUBSPOT_TOKEN,
    SIGNING_SECRET,
    RunningApp,
    make_settings,
    start_app,
    stop_app,
)
from tests.deal_scenario import SettableClock
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.hubspot_helpers import fast_adapter
from tests.slack_text import readable, texts, top_level

# Monday 23 November 2026, 08:00 in Paris: the weekly digest's slot. The previous sync was a week before.
NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
WEEK_AGO = NOW - timedelta(days=7)
NOW_ISO = "2026-11-23T08:00:00+01:00"
CHANNEL_ID = "C0WEEKLY"
MANAGERS_CHANNEL_ID = "C0MANAGERS"

DIGEST_RITUALS = """
timezone: Europe/Paris
rituals:
  - id: weekly-digest
    kind: pipeline_digest
    schedule: "0 8 * * mon"
    channel: "#sales-weekly"
"""


# --------------------------------------------------------------------------------------------
# Helpers


def ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def close_on(day: str) -> str:
    return f"{day}T00:00:00Z"


def report_posts(slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    """Top-level messages that are not a file being shared (the chart)."""
    return [m for m in top_level(slack, channel) if not m.get("files")]


def firing_statuses(app: RunningApp, ritual_id: str) -> list[str]:
    with app.services.sessions() as session:
        return list(session.scalars(select(RitualFiring.status).where(RitualFiring.ritual_id == ritual_id)))


@pytest.fixture
def clock(fake_hubspot: FakeHubSpot) -> SettableClock:
    """One clock for the app and for the fake CRM's write stamps, set by each test; never real time."""
    moment = SettableClock(WEEK_AGO - timedelta(days=1))
    fake_hubspot.clock = moment
    return moment


@pytest.fixture
def launch(
    fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, clock: SettableClock
) -> Iterator[Callable[[str, str], RunningApp]]:
    """`launch(database_url, rituals_yaml)`: one app on the real adapter, stopped after the test."""
    started: list[RunningApp] = []

    def start(database_url: str, rituals: str) -> RunningApp:
        settings = make_settings(database_url, fake_slack, fake_hubspot)
        app = start_app(
            settings,
            worker=False,
            rituals=parse_rituals_text(rituals),
            crm=fast_adapter(fake_hubspot),
            clock=clock,
        )
        started.append(app)
        return app

    yield start
    for app in started:
        stop_app(app)


@pytest.fixture
def sqlite_db(sqlite_url: str) -> str:
    """A migrated SQLite database, for the scenarios that need not run on both databases."""
    migrate_url(sqlite_url)
    return sqlite_url


def migrate_url(url: str) -> None:
    engine = create_db_engine(url)
    migrate(engine)
    engine.dispose()


def sync_at(app: RunningApp, moment: datetime) -> None:
    """A sync as the scheduler's refresh does it; it writes the pipeline history at `moment`."""
    sync_mirror(app.services.crm, app.services.sessions, now=moment)


def team(hubspot: FakeHubSpot, slack: FakeSlack) -> None:
    hubspot.add_default_pipeline()
    hubspot.add_owner("101", "alice@acme.example", "Alice", "Martin")
    hubspot.add_owner("102", "bruno@acme.example", "Bruno", "Costa")
    slack.add_user("U0ALICE", "alice@acme.example", "Alice Martin", tz="Europe/Paris")
    slack.add_user("U0BRUNO", "bruno@acme.example", "Bruno Costa", tz="Europe/Paris")
    slack.add_user("U0MAXIME", "maxime@acme.example", "Maxime Laurent", tz="Europe/Paris")


def deal(
    hubspot: FakeHubSpot,
    name: str,
    owner: str,
    stage: str,
    amount: str,
    *,
    close: str = "2027-01-29",
    currency: str = "EUR",
    created: datetime = WEEK_AGO - timedelta(days=60),
    touched: datetime = WEEK_AGO - timedelta(days=1),
) -> str:
    return hubspot.add_deal(
        dealname=name,
        hubspot_owner_id=owner,
        pipeline="default",
        dealstage=stage,
        amount=amount,
        closedate=close_on(close),
        createdate=ms(created),
        notes_last_updated=ms(touched),
        deal_currency_code=currency,
    )


@dataclass
class Week:
    """The open pipeline the digest should show, worked out by hand from the deals created."""

    open_count: int
    open_amount: Decimal
    weighted: Decimal


def a_week_of_changes(app: RunningApp, hubspot: FakeHubSpot, clock: SettableClock) -> Week:
    """Six deals synced a week ago; then one moves forward, one is won, one lost, one slips, one is new."""
    acme = deal(hubspot, "Acme Corp", "101", "qualifiedtobuy", "10000")
    globex = deal(hubspot, "Globex", "101", "presentationscheduled", "20000")
    initech = deal(hubspot, "Initech", "102", "decisionmakerboughtin", "15000")
    umbrella = deal(hubspot, "Umbrella", "102", "appointmentscheduled", "7000", close="2026-11-20")
    deal(hubspot, "Stark Industries", "102", "qualifiedtobuy", "3000")  # nothing happens to it
    clock.set(WEEK_AGO)
    sync_at(app, WEEK_AGO)

    clock.set(NOW - timedelta(days=2))
    deal(
        hubspot, "Hooli", "101", "presentationscheduled", "5000", created=NOW - timedelta(days=2), touched=NOW
    )
    clock.set(NOW - timedelta(days=1))
    hubspot.touch_deal(acme, dealstage="contractsent")
    hubspot.touch_deal(globex, dealstage="closedwon")
    hubspot.touch_deal(initech, dealstage="closedlost", closed_lost_reason="Went with a competitor")
    hubspot.touch_deal(umbrella, closedate=close_on("2026-12-18"))
    clock.set(NOW)
    # Open now: Acme 10,000 (Contract Sent, 90%), Umbrella 7,000 (Appointment Scheduled, 20%),
    # Hooli 5,000 (Presentation Scheduled, 60%), Stark 3,000 (Qualified To Buy, 40%).
    amounts = {"10000": "0.9", "7000": "0.2", "5000": "0.6", "3000": "0.4"}
    return Week(
        open_count=len(amounts),
        open_amount=sum((Decimal(a) for a in amounts), Decimal(0)),
        weighted=sum((Decimal(a) * Decimal(p) for a, p in amounts.items()), Decimal(0)),
    )


def euros(amount: Decimal) -> str:
    return f"€{amount:,.0f}"


# --------------------------------------------------------------------------------------------
# 1. The weekly digest


def test_the_weekly_digest_shows_the_pipeline_and_the_weeks_changes_once(
    engine: Any,
    database_url: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    team(fake_hubspot, fake_slack)
    fake_slack.add_channel(CHANNEL_ID, "sales-weekly")
    app = launch(database_url, DIGEST_RITUALS)
    week = a_week_of_changes(app, fake_hubspot, clock)
    assert (week.open_count, week.open_amount, week.weighted) == (4, Decimal(25000), Decimal(14600))

    report = app.runtime.engine.run("weekly-digest", scheduled_for=NOW)

    assert report.post_problem is None, report.summary()
    (post,) = report_posts(fake_slack, CHANNEL_ID)
    text = readable(post)
    totals = f"4 open deals · {euros(week.open_amount)} · weighted {euros(week.weighted)}"
    assert f"*Sales Pipeline* (EUR) — {totals}" in text
    assert post["text"].startswith(
        f"Pipeline digest for Mon 23 Nov: 4 open deals ({euros(week.open_amount)})"
    )
    assert "Changes since Mon 16 Nov" in text
    summary_line = (
        "1 new (€5,000) · 1 moved forward · 1 won (€20,000) · 1 lost (€15,000) · 1 close date slipped"
    )
    assert summary_line in text
    won = next(t for t in texts(post["blocks"]) if t.startswith("*Won*"))
    assert "Globex" in won and "€20,000" in won and "Alice Martin" in won
    lost = next(t for t in texts(post["blocks"]) if t.startswith("*Lost*"))
    assert "Initech" in lost and "Went with a competitor" in lost
    slipped = next(t for t in texts(post["blocks"]) if t.startswith("*Close dates slipped*"))
    assert "Umbrella" in slipped and "20 Nov 2026 → 18 Dec 2026" in slipped
    new = next(t for t in texts(post["blocks"]) if t.startswith("*New deals*"))
    assert "Hooli" in new
    forward = next(t for t in texts(post["blocks"]) if t.startswith("*Moved forward*"))
    assert "Acme Corp" in forward and "Qualified To Buy → Contract Sent" in forward
    assert "Stark Industries" not in "\n".join((won, lost, slipped, new, forward))

    (chart,) = fake_slack.files
    assert chart.channels == [CHANNEL_ID]
    assert chart.content is not None and chart.content.startswith(b"\x89PNG")
    assert chart.alt_txt and "Contract Sent" in chart.alt_txt
    assert report.summary() == "weekly-digest: posted to #sales-weekly; chart attached."

    posts_before = len(fake_slack.calls_to("chat.postMessage"))
    again = app.runtime.engine.run("weekly-digest", scheduled_for=NOW)
    assert again.already_ran
    assert len(fake_slack.calls_to("chat.postMessage")) == posts_before
    assert len(report_posts(fake_slack, CHANNEL_ID)) == 1
    assert len(fake_slack.files) == 1
    assert firing_statuses(app, "weekly-digest") == ["done"]


# --------------------------------------------------------------------------------------------
# 2. Channel problems


def test_a_missing_channel_is_one_sentence_saying_to_create_it(
    sqlite_db: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    team(fake_hubspot, fake_slack)
    app = launch(sqlite_db, DIGEST_RITUALS)
    a_week_of_changes(app, fake_hubspot, clock)

    report = app.runtime.engine.run("weekly-digest", scheduled_for=NOW)

    assert report.post_problem is not None
    assert "#sales-weekly" in report.post_problem
    assert "create it" in report.post_problem and "invite" in report.post_problem
    assert report.summary().startswith(
        "weekly-digest: nothing was posted to #sales-weekly: there is no channel"
    )
    assert "Traceback" not in report.summary()
    assert fake_slack.calls_to("chat.postMessage") == []
    assert fake_slack.files == []
    assert firing_statuses(app, "weekly-digest") == ["failed"]


def test_a_channel_the_bot_is_not_in_says_to_invite_it(
    sqlite_db: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    team(fake_hubspot, fake_slack)
    fake_slack.add_channel(CHANNEL_ID, "sales-weekly", bot_is_member=False)
    app = launch(sqlite_db, DIGEST_RITUALS)
    a_week_of_changes(app, fake_hubspot, clock)

    report = app.runtime.engine.run("weekly-digest", scheduled_for=NOW)

    assert (
        report.post_problem
        == "Drumbeat is not a member of #sales-weekly: invite it there with /invite @Drumbeat"
    )
    assert "/invite" in report.summary()
    # A permanent refusal is not retried: one attempt, and nothing lands in the channel.
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert fake_slack.messages_in(CHANNEL_ID) == []


def test_after_inviting_the_bot_the_failed_digest_can_be_posted_by_running_it_again(
    engine: Any,
    database_url: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    """`drumbeat run` says: "once that is fixed, run this command again with the same --now"."""
    team(fake_hubspot, fake_slack)
    fake_slack.add_channel(CHANNEL_ID, "sales-weekly", bot_is_member=False)
    app = launch(database_url, DIGEST_RITUALS)
    a_week_of_changes(app, fake_hubspot, clock)
    failed = app.runtime.engine.run("weekly-digest", scheduled_for=NOW)
    assert failed.post_problem is not None
    assert firing_statuses(app, "weekly-digest") == ["failed"]

    fake_slack.add_channel(CHANNEL_ID, "sales-weekly", bot_is_member=True)  # /invite @Drumbeat
    clock.advance(minutes=5)
    rerun = app.runtime.engine.run("weekly-digest", scheduled_for=NOW)

    assert not rerun.already_ran, rerun.summary()
    assert rerun.post_problem is None
    assert len(report_posts(fake_slack, CHANNEL_ID)) == 1


def test_without_files_write_the_digest_is_posted_and_the_missing_chart_is_explained(
    sqlite_db: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    team(fake_hubspot, fake_slack)
    fake_slack.add_channel(CHANNEL_ID, "sales-weekly")
    fake_slack.remove_scope("files:write")
    app = launch(sqlite_db, DIGEST_RITUALS)
    a_week_of_changes(app, fake_hubspot, clock)

    report = app.runtime.engine.run("weekly-digest", scheduled_for=NOW)

    assert report.post_problem is None
    (post,) = report_posts(fake_slack, CHANNEL_ID)
    assert "Pipeline digest for Mon 23 Nov" in post["text"]
    assert fake_slack.files == []
    (warning,) = [w for w in report.warnings if "chart" in w]
    assert warning.startswith("the chart was not uploaded")
    assert "files:write" in warning
    summary = report.summary()
    assert "the chart was not uploaded" in summary and "files:write" in summary
    assert "chart attached" not in summary
    assert firing_statuses(app, "weekly-digest") == ["done"]


# --------------------------------------------------------------------------------------------
# 3. Mentioning a user group


def _digest_with_mention(mention: str) -> str:
    return DIGEST_RITUALS + f'    mention: "{mention}"\n'


def test_a_known_user_group_is_mentioned_in_the_digest(
    sqlite_db: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    team(fake_hubspot, fake_slack)
    fake_slack.add_channel(CHANNEL_ID, "sales-weekly")
    fake_slack.add_usergroup("S0SALES", "sales-team", users=["U0ALICE", "U0BRUNO"])
    app = launch(sqlite_db, _digest_with_mention("@sales-team"))
    a_week_of_changes(app, fake_hubspot, clock)

    report = app.runtime.engine.run("weekly-digest", scheduled_for=NOW)

    (post,) = report_posts(fake_slack, CHANNEL_ID)
    assert post["text"].startswith("<!subteam^S0SALES> Pipeline digest for Mon 23 Nov")
    assert any(t.startswith("<!subteam^S0SALES> *Sales Pipeline*") for t in texts(post["blocks"]))
    assert not any("mention" in w for w in report.warnings)


def test_an_unknown_user_group_is_left_out_with_a_warning(
    sqlite_db: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    team(fake_hubspot, fake_slack)
    fake_slack.add_channel(CHANNEL_ID, "sales-weekly")
    fake_slack.add_usergroup("S0SALES", "sales-team")
    app = launch(sqlite_db, _digest_with_mention("@sales-tema"))
    a_week_of_changes(app, fake_hubspot, clock)

    report = app.runtime.engine.run("weekly-digest", scheduled_for=NOW)

    assert report.post_problem is None
    (post,) = report_posts(fake_slack, CHANNEL_ID)
    assert "<!subteam^" not in readable(post)
    assert "@sales-tema was not mentioned: Slack has no user group with that handle" in report.warnings
    assert "@sales-tema was not mentioned" in report.summary()
    assert "not mentioned" not in readable(post)  # the warning is for the admin, not the channel


# --------------------------------------------------------------------------------------------
# 4. 1:1 prep


PREP_RITUALS = """
timezone: Europe/Paris
people:
  - {crm_owner: "101", slack: U0ALICE, manager: maxime@acme.example}
  - {crm_owner: "102", slack: U0BRUNO, manager: maxime@acme.example}
quiet_hours: {start: "19:00", end: "08:30"}
rituals:
  - id: one-on-one
    kind: one_on_one_prep
    schedule: "0 9 * * tue"
"""
TUESDAY_9 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # 09:00 in Paris


def _prep_deals(hubspot: FakeHubSpot) -> None:
    deal(hubspot, "Acme Corp", "101", "contractsent", "10000")
    deal(hubspot, "Globex", "101", "qualifiedtobuy", "4000", touched=TUESDAY_9 - timedelta(days=40))
    deal(hubspot, "Initech", "102", "presentationscheduled", "12000", close="2026-11-30")


def test_one_on_one_prep_sends_the_manager_one_dm_per_direct_report(
    engine: Any,
    database_url: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    team(fake_hubspot, fake_slack)
    _prep_deals(fake_hubspot)
    clock.set(TUESDAY_9)
    app = launch(database_url, PREP_RITUALS)

    report = app.runtime.engine.run("one-on-one", scheduled_for=TUESDAY_9)
    delivered = app.runtime.engine.deliver_due(app.runtime.send_dm)

    assert report.summary().startswith("one-on-one: queued 2 1:1 prep DMs to 1 manager")
    assert delivered == 1  # one person reached, with two messages
    messages = fake_slack.messages_in("U0MAXIME")
    assert len(messages) == 2
    by_rep = {}
    for message in messages:
        text = readable(message)
        reps = [name for name in ("Alice Martin", "Bruno Costa") if f"1:1 prep: {name}" in text]
        assert len(reps) == 1, text
        by_rep[reps[0]] = text
        assert "*Questions to ask*" in text
        questions = next(t for t in texts(message["blocks"]) if t.startswith("*Questions to ask*"))
        assert [line[:3] for line in questions.splitlines()[1:]] == ["1. ", "2. ", "3. "]
    assert set(by_rep) == {"Alice Martin", "Bruno Costa"}
    # The first prep after the first sync: the history starts now, so nothing reads as new.
    assert all("No changes in the CRM this past week." in text for text in by_rep.values())
    assert all("New deals" not in text for text in by_rep.values())
    assert "Globex" in by_rep["Alice Martin"] and "Initech" not in by_rep["Alice Martin"]
    assert "Initech" in by_rep["Bruno Costa"] and "Acme Corp" not in by_rep["Bruno Costa"]
    assert fake_slack.messages_in("U0ALICE") == [] and fake_slack.messages_in("U0BRUNO") == []


def test_one_on_one_prep_without_any_manager_says_so_and_sends_nothing(
    sqlite_db: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    team(fake_hubspot, fake_slack)
    _prep_deals(fake_hubspot)
    clock.set(TUESDAY_9)
    app = launch(sqlite_db, PREP_RITUALS.replace(", manager: maxime@acme.example", ""))

    report = app.runtime.engine.run("one-on-one", scheduled_for=TUESDAY_9)

    assert "nobody has direct reports" in report.summary()
    assert report.dms == []
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 0
    assert fake_slack.calls_to("chat.postMessage") == []


def test_one_on_one_prep_waits_for_the_end_of_the_managers_quiet_hours(
    engine: Any,
    database_url: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    team(fake_hubspot, fake_slack)
    _prep_deals(fake_hubspot)
    evening = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)  # 22:00 in Paris
    clock.set(evening)
    app = launch(database_url, PREP_RITUALS)

    report = app.runtime.engine.run("one-on-one", scheduled_for=evening)
    assert len(report.dms) == 2
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 0
    clock.set(datetime(2026, 11, 25, 7, 29, tzinfo=UTC))  # 08:29 in Paris
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 0
    assert fake_slack.messages_in("U0MAXIME") == []
    clock.set(datetime(2026, 11, 25, 7, 31, tzinfo=UTC))  # 08:31
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 1
    assert len(fake_slack.messages_in("U0MAXIME")) == 2


# --------------------------------------------------------------------------------------------
# 5. Adoption report


ADOPTION_RITUALS = """
timezone: Europe/Paris
rituals:
  - id: stale-deals
    kind: stale_deals
    schedule: "0 9 * * mon-fri"
    stale_after_days: 14
  - id: adoption
    kind: adoption_report
    schedule: "0 16 * * fri"
    channel: "#sales-managers"
"""
FRIDAY_16 = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 16:00 in Paris


def _adoption_app(
    database_url: str,
    launch: Callable[[str, str], RunningApp],
    slack: FakeSlack,
    hubspot: FakeHubSpot,
    clock: SettableClock,
    rituals: str,
) -> RunningApp:
    team(hubspot, slack)
    slack.add_channel(MANAGERS_CHANNEL_ID, "sales-managers")
    fresh = FRIDAY_16 - timedelta(days=3)
    deal(hubspot, "Acme Corp", "101", "contractsent", "10000", touched=fresh)
    deal(hubspot, "Globex", "101", "qualifiedtobuy", "4000", touched=fresh)
    deal(hubspot, "Initech", "102", "presentationscheduled", "12000", touched=fresh)
    deal(hubspot, "Umbrella", "102", "qualifiedtobuy", "6000", touched=FRIDAY_16 - timedelta(days=30))
    deal(hubspot, "Hooli", "102", "appointmentscheduled", "2000", touched=FRIDAY_16 - timedelta(days=45))
    clock.set(FRIDAY_16)
    return launch(database_url, rituals)


def test_the_adoption_report_celebrates_who_is_on_track(
    engine: Any,
    database_url: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    app = _adoption_app(database_url, launch, fake_slack, fake_hubspot, clock, ADOPTION_RITUALS)

    report = app.runtime.engine.run("adoption", scheduled_for=FRIDAY_16)

    assert report.post_problem is None, report.summary()
    (post,) = report_posts(fake_slack, MANAGERS_CHANNEL_ID)
    text = readable(post)
    # 3 of the team's 5 open deals were touched in the last 14 days.
    assert post["text"] == "Adoption report: 60% of open deals reviewed within 14 days."
    on_track = next(t for t in texts(post["blocks"]) if t.startswith("*On track*"))
    assert "*Alice Martin* — 2 of 2 reviewed" in on_track
    assert "Bruno" not in on_track
    assert "Catching up: Bruno Costa — 2 deals to look at" in text
    assert "1 of 3 reviewed" not in text  # no per-person figures for who is behind
    (chart,) = fake_slack.files
    assert chart.channels == [MANAGERS_CHANNEL_ID]
    assert chart.content is not None and chart.content.startswith(b"\x89PNG")
    assert chart.alt_txt


def test_the_adoption_ranking_lists_everyone_best_first_when_asked(
    sqlite_db: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    rituals = ADOPTION_RITUALS + "    ranking: true\n"
    app = _adoption_app(sqlite_db, launch, fake_slack, fake_hubspot, clock, rituals)

    app.runtime.engine.run("adoption", scheduled_for=FRIDAY_16)

    (post,) = report_posts(fake_slack, MANAGERS_CHANNEL_ID)
    ranking = next(t for t in texts(post["blocks"]) if t.startswith("*Everyone, most up to date first*"))
    lines = ranking.splitlines()[1:]
    assert lines[0].startswith("1. *Alice Martin* — 2 of 2 reviewed")
    assert lines[1].startswith("2. *Bruno Costa* — 1 of 3 reviewed")
    assert len(lines) == 2
    assert len(fake_slack.files) == 1


# --------------------------------------------------------------------------------------------
# 6. `drumbeat run` for a digest, as an admin types it


def _cli_env(tmp_path: Path, sqlite_url: str, slack: FakeSlack, hubspot: FakeHubSpot) -> dict[str, str]:
    rituals = tmp_path / "rituals.yaml"
    rituals.write_text(DIGEST_RITUALS)
    return {
        "DATABASE_URL": sqlite_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
        "HUBSPOT_API_URL": hubspot.url,
        "RITUALS_FILE": str(rituals),
    }


def _cli_deals(hubspot: FakeHubSpot) -> Week:
    deal(hubspot, "Acme Corp", "101", "contractsent", "10000")
    deal(hubspot, "Umbrella", "102", "appointmentscheduled", "7000")
    deal(hubspot, "Hooli", "101", "presentationscheduled", "5000")
    deal(hubspot, "Globex", "101", "closedwon", "20000")
    return Week(3, Decimal(22000), Decimal(9000 + 1400 + 3000))


def test_a_dry_run_prints_the_digest_and_writes_the_chart_without_posting(
    tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, clock: SettableClock
) -> None:
    team(fake_hubspot, fake_slack)
    fake_slack.add_channel(CHANNEL_ID, "sales-weekly")
    week = _cli_deals(fake_hubspot)
    clock.set(NOW)
    env = _cli_env(tmp_path, sqlite_url, fake_slack, fake_hubspot)
    migrate_url(sqlite_url)  # as `drumbeat migrate` does, without another process
    charts = tmp_path / "charts"

    dry = run_drumbeat(
        "run",
        "weekly-digest",
        "--now",
        NOW_ISO,
        "--dry-run",
        "--chart-dir",
        str(charts),
        env=env,
        cwd=tmp_path,
    )

    assert dry.returncode == 0, dry.stderr
    assert "Post to #sales-weekly" in dry.stdout
    assert (
        f"Sales Pipeline (EUR) — 3 open deals · {euros(week.open_amount)} · weighted {euros(week.weighted)}"
        in dry.stdout
    )
    assert "written to" in dry.stdout
    (png,) = charts.glob("*.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    assert str(png) in dry.stdout.replace("\n", "")
    assert dry.stdout.strip().endswith("weekly-digest: would post to #sales-weekly.")
    assert fake_slack.calls_to("chat.postMessage") == []
    assert fake_slack.files == []
    assert BOT_TOKEN not in dry.stdout + dry.stderr
    assert HUBSPOT_TOKEN not in dry.stdout + dry.stderr


def test_a_real_run_to_a_channel_the_bot_is_not_in_fails_with_one_clear_line(
    tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, clock: SettableClock
) -> None:
    team(fake_hubspot, fake_slack)
    fake_slack.add_channel(CHANNEL_ID, "sales-weekly", bot_is_member=False)
    _cli_deals(fake_hubspot)
    clock.set(NOW)
    env = _cli_env(tmp_path, sqlite_url, fake_slack, fake_hubspot)
    migrate_url(sqlite_url)  # as `drumbeat migrate` does, without another process

    real = run_drumbeat("run", "weekly-digest", "--now", NOW_ISO, env=env, cwd=tmp_path)

    assert real.returncode == 1
    assert "Traceback" not in real.stdout + real.stderr
    assert BOT_TOKEN not in real.stdout + real.stderr
    assert fake_slack.messages_in(CHANNEL_ID) == []
    assert "/invite @Drumbeat" in real.stdout + real.stderr
    # As the error says: once the bot is invited, the same command with the same --now posts it.
    fake_slack.add_channel(CHANNEL_ID, "sales-weekly", bot_is_member=True)
    again = run_drumbeat("run", "weekly-digest", "--now", NOW_ISO, env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.strip() == "weekly-digest: posted to #sales-weekly; chart attached."
    assert len(report_posts(fake_slack, CHANNEL_ID)) == 1
    # What a cron mail or a CI log shows: one line that says what is wrong and what to do.
    lines = [line for line in real.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, real.stderr
    assert lines[0].startswith("error:"), real.stderr
    assert "/invite @Drumbeat" in lines[0], real.stderr


# --------------------------------------------------------------------------------------------
# 7. Several currencies in one pipeline


def test_amounts_in_two_currencies_are_shown_side_by_side_and_never_added(
    engine: Any,
    database_url: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    team(fake_hubspot, fake_slack)
    fake_slack.add_channel(CHANNEL_ID, "sales-weekly")
    deal(fake_hubspot, "Acme Corp", "101", "contractsent", "10000", currency="EUR")
    deal(fake_hubspot, "Umbrella", "102", "qualifiedtobuy", "5000", currency="EUR")
    deal(fake_hubspot, "Hooli", "101", "contractsent", "8000", currency="USD")
    clock.set(NOW)
    app = launch(database_url, DIGEST_RITUALS)

    app.runtime.engine.run("weekly-digest", scheduled_for=NOW)

    (post,) = report_posts(fake_slack, CHANNEL_ID)
    blocks = texts(post["blocks"])
    eur = [t for t in blocks if t.startswith("*Sales Pipeline* (EUR)")]
    usd = [t for t in blocks if t.startswith("*Sales Pipeline* (USD)")]
    assert len(eur) == 1 and len(usd) == 1
    assert eur[0].startswith("*Sales Pipeline* (EUR) — 2 open deals · €15,000 · weighted €11,000")
    assert usd[0].startswith("*Sales Pipeline* (USD) — 1 open deal · US$8,000 · weighted US$7,200")
    totals = next(t for t in blocks if t.startswith("*Total*"))
    assert totals.splitlines() == [
        "*Total* (EUR) — 2 open deals · €15,000 · weighted €11,000",
        "*Total* (USD) — 1 open deal · US$8,000 · weighted US$7,200",
    ]
    everything = readable(post)
    for mixed in ("23,000", "18,200"):  # 15,000 + 8,000 and 11,000 + 7,200 under any symbol
        assert mixed not in everything
    assert "3 open deals (€15,000; US$8,000)" in post["text"]
    (chart,) = fake_slack.files
    assert chart.alt_txt and "(EUR)" in chart.alt_txt and "(USD)" in chart.alt_txt


# --------------------------------------------------------------------------------------------
# 7. In French: a channel in its ritual's `language:`, a manager in their own


FRENCH_DIGEST_RITUALS = """
timezone: Europe/Paris
language: en
rituals:
  - id: weekly-digest
    kind: pipeline_digest
    schedule: "0 8 * * mon"
    channel: "#sales-weekly"
    language: fr
"""
NNBSP = "\u202f"  # Babel's narrow no-break space in French numbers and before %
NBSP = "\u00a0"
APOS = "\u2019"  # the French apostrophe
MINUS = "\N{MINUS SIGN}"


def test_a_french_digest_reads_in_french_with_french_amounts_dates_and_chart(
    sqlite_db: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    team(fake_hubspot, fake_slack)
    fake_slack.add_channel(CHANNEL_ID, "sales-weekly")
    app = launch(sqlite_db, FRENCH_DIGEST_RITUALS)
    # Closes in a week with no next step: it needs a decision.
    deal(fake_hubspot, "Wayne Enterprises", "102", "qualifiedtobuy", "1250000", close="2026-11-30")
    a_week_of_changes(app, fake_hubspot, clock)

    report = app.runtime.engine.run("weekly-digest", scheduled_for=NOW)

    assert report.post_problem is None, report.summary()
    (post,) = report_posts(fake_slack, CHANNEL_ID)
    assert post["text"] == (
        f"Point pipeline du lun. 23 nov.{NBSP}: 5 affaires en cours (1{NNBSP}275{NNBSP}000{NBSP}€){NBSP}; "
        "1 à trancher."
    )
    link = "https://app.hubspot.com/go-to/0-3/"
    assert texts(post["blocks"]) == [
        "Point pipeline — lun. 23 nov.",
        "Affaires en cours à 08:00 (Europe/Paris) · changements depuis le lun. 16 nov."
        f" · source{NBSP}: HubSpot",
        f"*Sales Pipeline* (EUR) — 5 affaires en cours · 1{NNBSP}275{NNBSP}000{NBSP}€"
        f" · pondéré 514{NNBSP}600{NBSP}€\n"
        "```\n"
        "Étape                     Affaires      Montant    Pondéré  vs avant\n"
        f"Appointment Scheduled            1      7{NNBSP}000{NBSP}€    1{NNBSP}400{NBSP}€\n"
        f"Qualified To Buy                 2  1{NNBSP}253{NNBSP}000{NBSP}€  501{NNBSP}200{NBSP}€"
        f"        {MINUS}1\n"
        f"Presentation Scheduled           1      5{NNBSP}000{NBSP}€    3{NNBSP}000{NBSP}€\n"
        f"Decision Maker Bought-In         0          0{NBSP}€        0{NBSP}€        {MINUS}1\n"
        f"Contract Sent                    1     10{NNBSP}000{NBSP}€    9{NNBSP}000{NBSP}€        +1\n"
        "```",
        "*Changements depuis le lun. 16 nov.*\n"
        f"1 nouvelle (5{NNBSP}000{NBSP}€) · 1 avancée · 1 gagnée (20{NNBSP}000{NBSP}€)"
        f" · 1 perdue (15{NNBSP}000{NBSP}€) · 1 date de clôture repoussée",
        f"*Nouvelles affaires*\n• <{link}10000000007|Hooli> · 5{NNBSP}000{NBSP}€ · Alice Martin"
        " — Presentation Scheduled",
        f"*Avancées*\n• <{link}10000000002|Acme Corp> · 10{NNBSP}000{NBSP}€ · Alice Martin"
        " — Qualified To Buy → Contract Sent",
        f"*Gagnées*\n• <{link}10000000003|Globex> · 20{NNBSP}000{NBSP}€ · Alice Martin — Closed Won",
        f"*Perdues*\n• <{link}10000000004|Initech> · 15{NNBSP}000{NBSP}€ · Bruno Costa"
        " — Went with a competitor",
        f"*Dates de clôture repoussées*\n• <{link}10000000005|Umbrella> · 7{NNBSP}000{NBSP}€ · Bruno Costa"
        " — 20 nov. 2026 → 18 déc. 2026",
        "*1 affaire à trancher cette semaine* — 1 à clôturer sous 14 jours sans prochaine étape\n"
        f"• <{link}10000000001|Wayne Enterprises> · 1{NNBSP}250{NNBSP}000{NBSP}€ · Bruno Costa"
        " — clôture le 30 nov., pas de prochaine étape",
    ]

    (chart,) = fake_slack.files
    assert chart.title == f"Pipeline en cours par étape{NBSP}: maintenant vs semaine dernière"
    assert chart.alt_txt is not None
    assert chart.alt_txt.startswith(
        "Pipeline en cours par étape : maintenant vs semaine dernière. Sales Pipeline (EUR) : "
        "Appointment Scheduled 7 000 € (avant : 7 000 €); Qualified To Buy 1 253 000 € (avant : 1 263 000 €);"
    )
    drawn = report.posts[0].post.chart.drawn_text if report.posts[0].post.chart else ()
    # The legend, the title, and amounts on the axis and the bars as French writes them, short.
    assert {
        "Maintenant",
        "Semaine dernière",
        "Pipeline en cours par étape : maintenant vs semaine dernière",
    } <= set(drawn)
    assert {"1,3 M €", "10 k €", "400 k €", "1,2 M €"} <= set(drawn)
    assert not any("€1" in text or text in ("Now", "Last week") for text in drawn)


def test_one_on_one_prep_is_in_each_managers_own_language(
    sqlite_db: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    team(fake_hubspot, fake_slack)
    fake_slack.add_user("U0CLAIRE", "claire@acme.example", "Claire Dubois", locale="fr-FR")
    _prep_deals(fake_hubspot)
    clock.set(TUESDAY_9)
    rituals = PREP_RITUALS.replace(
        '{crm_owner: "101", slack: U0ALICE, manager: maxime@acme.example}',
        '{crm_owner: "101", slack: U0ALICE, manager: claire@acme.example}',
    )
    app = launch(sqlite_db, rituals)

    app.runtime.engine.run("one-on-one", scheduled_for=TUESDAY_9)
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 2

    (french,) = fake_slack.messages_in("U0CLAIRE")
    link = "https://app.hubspot.com/go-to/0-3/"
    assert (
        french["text"]
        == f"Préparation du 1:1 avec Alice Martin{NBSP}: 2 affaires en cours, 1 sans nouvelles, 0 à risque."
    )
    assert texts(french["blocks"]) == [
        f"Préparation du 1:1{NBSP}: Alice Martin",
        f"2 affaires en cours · 14{NNBSP}000{NBSP}€ (pondéré 10{NNBSP}600{NBSP}€)",
        "*La semaine écoulée*\nAucun changement dans le CRM cette semaine.",
        f"*Sans nouvelles*\n• <{link}10000000002|Globex> · Qualified To Buy · 4{NNBSP}000{NBSP}€"
        " — sans nouvelles depuis 40 jours",
        "*Questions à poser*\n"
        f"1. Globex est sans nouvelles depuis 40 jours — toujours d{APOS}actualité{NBSP}?\n"
        f"2. Acme Corp est la plus grosse affaire en cours (10{NNBSP}000{NBSP}€)"
        f" — qu{APOS}est-ce qui pourrait la bloquer{NBSP}?\n"
        f"3. Quelle affaire te semble la plus sûre ce mois-ci, et pourquoi{NBSP}?",
        "Préparé par Drumbeat pour Claire Dubois, avec les affaires du CRM dont Alice Martin"
        " est responsable.",
    ]
    # The English manager, in the same run, reads English.
    (english,) = fake_slack.messages_in("U0MAXIME")
    assert english["text"] == "1:1 prep for Bruno Costa: 1 open deal, 0 stale, 1 at risk."
    assert texts(english["blocks"]) == [
        "1:1 prep: Bruno Costa",
        "1 open deal · €12,000 (weighted €7,200)",
        "*This past week*\nNo changes in the CRM this past week.",
        f"*At risk*\n• <{link}10000000003|Initech> · Presentation Scheduled · €12,000"
        " — closes in 6 days, no next step",
        "*Questions to ask*\n"
        "1. Initech closes in 6 days with no next step — what has to happen first?\n"
        "2. Initech is the biggest open deal (€12,000) — what could stop it?\n"
        "3. Which deal are you most confident about this month, and why?",
        "Prepared by Drumbeat for Maxime Laurent from Bruno Costa's deals in the CRM.",
    ]


def test_the_adoption_report_reads_in_the_rituals_files_language(
    sqlite_db: str,
    launch: Callable[[str, str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
) -> None:
    rituals = ADOPTION_RITUALS.replace("timezone: Europe/Paris\n", "timezone: Europe/Paris\nlanguage: fr\n")
    app = _adoption_app(sqlite_db, launch, fake_slack, fake_hubspot, clock, rituals)

    report = app.runtime.engine.run("adoption", scheduled_for=FRIDAY_16)

    assert report.post_problem is None, report.summary()
    (post,) = report_posts(fake_slack, MANAGERS_CHANNEL_ID)
    assert (
        post["text"]
        == f"Rapport d{APOS}adoption{NBSP}: 60{NBSP}% des affaires en cours revues sous 14 jours."
    )
    assert texts(post["blocks"]) == [
        "Adoption — semaine du 23 nov.",
        f"*60{NBSP}%* des affaires en cours revues sous 14 jours",
        "*Dans les clous* 🎉\n*Alice Martin* — 2 sur 2 revues · aucune relance nécessaire"
        f" · 1 semaine d{APOS}affilée 🎉",
        f"En rattrapage{NBSP}: Bruno Costa — 2 affaires à regarder{NBSP}; ses relances vont aider.",
        "Revue = une note, un appel, un rendez-vous, un e-mail ou un champ modifié par le commercial ces 14 "
        f"derniers jours, ou une mise en pause. Seuil{NBSP}: 80{NBSP}%.",
    ]
    (chart,) = fake_slack.files
    assert chart.title == "Affaires en cours revues sous 14 jours, sur les 8 dernières semaines"
    assert chart.alt_txt == (
        "Affaires en cours revues sous 14 jours, sur les 8 dernières semaines : 5 oct. sans données, "
        "12 oct. sans données, 19 oct. sans données, 26 oct. sans données, 2 nov. sans données, "
        "9 nov. sans données, 16 nov. sans données, 23 nov. 60 %."
    )
    drawn = report.posts[0].post.chart.drawn_text if report.posts[0].post.chart else ()
    assert {"Affaires en cours revues", "5 oct.", "23 nov.", "0 %", "100 %", f"60{NBSP}%"} <= set(drawn)
