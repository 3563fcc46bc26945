"""Deal alerts end to end: changes in HubSpot, a sync, and what the team sees in Slack, said once.

The real runtime (create_runtime) against FakeSlack, the real HubSpot adapter against FakeHubSpot,
and the time injected everywhere (the app, the fake CRM's write stamps).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.db import create_db_engine, migrate
from core.deals.commands import Accepted
from core.mirror.sync import sync_mirror
from core.models import AlertMatch, PendingDM
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

# Tuesday 1 December 2026, 10:00 in Paris.
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WINS = "C0WINS"

ALERTS = """
timezone: Europe/Paris
quiet_hours: {start: "19:00", end: "08:30"}
people:
  - {crm_owner: "101", slack: U0ALICE, manager: maxime@acme.example}
rituals:
  - id: big-wins
    kind: deal_alert
    when: {stage_becomes: closedwon, amount_at_least: 20000}
    post_to: "#wins"
    mention_owner: true
  - id: contract-sent
    kind: deal_alert
    when: {stage_becomes: Contract Sent}
    post_to: manager
  - id: big-deal-slipped
    kind: deal_alert
    when: {close_date_pushed_by_days: 14, amount_at_least: 50000}
    post_to: "#wins"
"""


def ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def texts(value: Any) -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                found.append(item)
            else:
                found.extend(texts(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(texts(item))
    return found


def readable(message: dict[str, Any]) -> str:
    return "\n".join([str(message.get("text", "")), *texts(message.get("blocks", []))])


def posts(slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages_in(channel) if m.get("thread_ts") in (None, m.get("ts"))]


@pytest.fixture
def clock(fake_hubspot: FakeHubSpot) -> SettableClock:
    moment = SettableClock(T0)
    fake_hubspot.clock = moment
    return moment


@pytest.fixture
def team(fake_hubspot: FakeHubSpot, fake_slack: FakeSlack) -> None:
    fake_hubspot.add_default_pipeline()
    fake_hubspot.add_owner("101", "alice@acme.example", "Alice", "Martin")
    fake_hubspot.add_owner("102", "bruno@acme.example", "Bruno", "Costa")
    fake_slack.add_user("U0ALICE", "alice@acme.example", "Alice Martin", tz="Europe/Paris")
    fake_slack.add_user("U0BRUNO", "bruno@acme.example", "Bruno Costa", tz="Europe/Paris")
    fake_slack.add_user("U0MAXIME", "maxime@acme.example", "Maxime Laurent", tz="Europe/Paris")
    fake_slack.add_channel(WINS, "wins")


@pytest.fixture
def launch(
    engine: Any, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, clock: SettableClock
) -> Iterator[Callable[[str], RunningApp]]:
    """`launch(database_url)`: one replica on the real adapter (no background workers)."""
    started: list[RunningApp] = []

    def start(database_url: str, rituals: str = ALERTS) -> RunningApp:
        app = start_app(
            make_settings(database_url, fake_slack, fake_hubspot),
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


def deal(
    hubspot: FakeHubSpot, name: str, owner: str, stage: str, amount: str, close: str = "2027-01-29"
) -> str:
    return hubspot.add_deal(
        dealname=name,
        hubspot_owner_id=owner,
        pipeline="default",
        dealstage=stage,
        amount=amount,
        closedate=f"{close}T00:00:00Z",
        createdate=ms(T0 - timedelta(days=60)),
        notes_last_updated=ms(T0 - timedelta(days=1)),
        deal_currency_code="EUR",
    )


def sync_and_alert(app: RunningApp, clock: SettableClock, moment: datetime) -> int:
    """What serve does every minute: an incremental sync, the alerts, then the queued posts."""
    clock.set(moment)
    sync_mirror(app.services.crm, app.services.sessions, now=moment)
    app.runtime.check_alerts()
    return app.runtime.alert_posts.run_once()


def test_a_big_win_is_posted_once_after_the_next_sync_and_a_small_one_is_not(
    database_url: str,
    launch: Callable[[str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
    team: None,
) -> None:
    acme = deal(fake_hubspot, "Acme Corp", "101", "contractsent", "25000")
    small = deal(fake_hubspot, "Tiny Ltd", "101", "contractsent", "5000")
    already_won = deal(fake_hubspot, "Old Win", "102", "closedwon", "90000")
    app = launch(database_url)

    # The first sync is the past: nothing alerts, not even a deal already won.
    assert sync_and_alert(app, clock, T0) == 0
    assert posts(fake_slack, WINS) == []

    clock.set(T0 + timedelta(minutes=3))
    fake_hubspot.touch_deal(acme, dealstage="closedwon")
    fake_hubspot.touch_deal(small, dealstage="closedwon")
    fake_hubspot.touch_deal(already_won, amount="95000")
    assert sync_and_alert(app, clock, T0 + timedelta(minutes=4)) == 1

    (post,) = posts(fake_slack, WINS)
    text = readable(post)
    assert "Acme Corp" in text and "is won! Congratulations <@U0ALICE> — €25,000" in text
    assert "Stage: Contract Sent → *Closed Won*" in text
    assert "Tiny Ltd" not in text and "Old Win" not in text
    # The next minute's sync looks at an overlapping window: the same change is not said again.
    assert sync_and_alert(app, clock, T0 + timedelta(minutes=5)) == 0
    assert sync_and_alert(app, clock, T0 + timedelta(minutes=6)) == 0
    assert len(posts(fake_slack, WINS)) == 1


def test_two_replicas_seeing_the_same_change_post_it_once(
    database_url: str,
    launch: Callable[[str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
    team: None,
) -> None:
    acme = deal(fake_hubspot, "Acme Corp", "101", "contractsent", "25000")
    first, second = launch(database_url), launch(database_url)
    sync_and_alert(first, clock, T0)
    clock.set(T0 + timedelta(minutes=3))
    fake_hubspot.touch_deal(acme, dealstage="closedwon")

    moment = T0 + timedelta(minutes=4)
    clock.set(moment)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def replica(app: RunningApp) -> None:
        try:
            barrier.wait(timeout=10)
            sync_mirror(app.services.crm, app.services.sessions, now=moment)
            app.runtime.check_alerts()
            app.runtime.alert_posts.run_once()
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(app,)) for app in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(posts(fake_slack, WINS)) == 1
    with first.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AlertMatch)) == 1


def test_a_bulk_change_becomes_one_summary_with_the_deals_in_its_thread(
    sqlite_url: str,
    launch: Callable[[str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
    team: None,
) -> None:
    migrate_url(sqlite_url)
    ids = fake_hubspot.add_deals_bulk(
        200,
        lambda i: {
            "dealname": f"Imported {i:03d}",
            "hubspot_owner_id": "102",
            "pipeline": "default",
            "dealstage": "contractsent",
            "amount": "30000",
            "closedate": "2027-01-29T00:00:00Z",
            "createdate": ms(T0 - timedelta(days=60)),
            "deal_currency_code": "EUR",
        },
    )
    app = launch(sqlite_url)
    sync_and_alert(app, clock, T0)
    clock.set(T0 + timedelta(minutes=3))
    for deal_id in ids:
        fake_hubspot.touch_deal(deal_id, dealstage="closedwon")

    assert sync_and_alert(app, clock, T0 + timedelta(minutes=4)) == 1

    (post,) = posts(fake_slack, WINS)
    assert "200 deals moved to Closed Won* in one change" in readable(post)
    assert "€6,000,000" in readable(post)  # 200 deals of 30,000, one currency
    thread = [m for m in fake_slack.messages_in(WINS) if m.get("thread_ts") == post["ts"] and m is not post]
    listed = "\n".join(readable(m) for m in thread)
    assert "Imported 000" in listed and "…and 160 more." in listed
    with app.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(AlertMatch)) == 200


def test_a_managers_dm_waits_for_the_end_of_quiet_hours(
    sqlite_url: str,
    launch: Callable[[str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
    team: None,
) -> None:
    migrate_url(sqlite_url)
    globex = deal(fake_hubspot, "Globex", "101", "presentationscheduled", "12000")
    app = launch(sqlite_url)
    evening = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)  # 22:00 in Paris: quiet
    sync_and_alert(app, clock, evening)
    clock.set(evening + timedelta(minutes=1))
    fake_hubspot.touch_deal(globex, dealstage="contractsent")
    sync_and_alert(app, clock, evening + timedelta(minutes=2))

    with app.services.sessions() as session:
        (queued,) = session.scalars(select(PendingDM).where(PendingDM.ritual_id == "contract-sent"))
    assert queued.slack_user == "U0MAXIME"
    assert queued.send_after == datetime(2026, 12, 2, 7, 30, tzinfo=UTC)  # 08:30 in Paris
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 0
    assert fake_slack.messages_in("U0MAXIME") == []

    clock.set(datetime(2026, 12, 2, 7, 31, tzinfo=UTC))
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 1
    (dm,) = fake_slack.messages_in("U0MAXIME")
    assert "Globex" in readable(dm) and "Stage: Presentation Scheduled → *Contract Sent*" in readable(dm)


def test_a_big_deal_that_slipped_is_posted_with_an_update_button(
    sqlite_url: str,
    launch: Callable[[str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
    team: None,
) -> None:
    migrate_url(sqlite_url)
    big = deal(fake_hubspot, "Initech", "102", "decisionmakerboughtin", "80000", close="2026-12-15")
    nearly = deal(fake_hubspot, "Hooli", "102", "decisionmakerboughtin", "80000", close="2026-12-15")
    app = launch(sqlite_url)
    sync_and_alert(app, clock, T0)
    clock.set(T0 + timedelta(minutes=3))
    fake_hubspot.touch_deal(big, closedate="2027-01-15T00:00:00Z")
    fake_hubspot.touch_deal(nearly, closedate="2026-12-22T00:00:00Z")  # 7 days: under the rule's 14
    sync_and_alert(app, clock, T0 + timedelta(minutes=4))

    (post,) = posts(fake_slack, WINS)
    text = readable(post)
    assert "Initech" in text and "Close date: 15 Dec 2026 → *15 Jan 2027* (+31 days)" in text
    assert "Hooli" not in text
    (actions,) = [b for b in post["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [("deal.update", big)]


def migrate_url(url: str) -> None:
    engine = create_db_engine(url)
    migrate(engine)
    engine.dispose()


def test_alerts_never_fire_for_the_mirror_that_existed_before_they_started_watching(
    sqlite_url: str,
    launch: Callable[[str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
    team: None,
) -> None:
    """Upgrading: history recorded before alerts existed (or before the first look) is the past."""
    migrate_url(sqlite_url)
    acme = deal(fake_hubspot, "Acme Corp", "101", "contractsent", "25000")
    app = launch(sqlite_url)
    clock.set(T0)
    sync_mirror(app.services.crm, app.services.sessions, now=T0)
    clock.set(T0 + timedelta(minutes=1))
    fake_hubspot.touch_deal(acme, dealstage="closedwon")
    moment = T0 + timedelta(minutes=2)
    clock.set(moment)
    sync_mirror(app.services.crm, app.services.sessions, now=moment)  # no alert looked yet
    first_look = app.runtime.check_alerts()
    assert first_look.started_watching
    assert app.runtime.alert_posts.run_once() == 0
    assert sync_and_alert(app, clock, moment + timedelta(minutes=1)) == 0
    assert posts(fake_slack, WINS) == []
    assert datetime(2026, 12, 1, tzinfo=UTC) < moment  # the scenario's clock, for the reader


def test_drumbeat_sync_prints_the_alerts_with_dry_run_then_posts_them_once(
    tmp_path: Path,
    sqlite_url: str,
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
    team: None,
) -> None:
    rituals = tmp_path / "rituals.yaml"
    rituals.write_text(ALERTS)
    env = {
        "DATABASE_URL": sqlite_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
        "HUBSPOT_API_URL": fake_hubspot.url,
        "RITUALS_FILE": str(rituals),
    }
    acme = deal(fake_hubspot, "Acme Corp", "101", "contractsent", "25000")
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0

    def sync(moment: datetime, *extra: str) -> str:
        clock.set(moment)
        result = run_drumbeat("sync", "--now", moment.isoformat(), *extra, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert BOT_TOKEN not in result.stdout + result.stderr
        return result.stdout

    assert "Deal alerts: watching for changes from now on." in sync(T0)
    clock.set(T0 + timedelta(minutes=3))
    fake_hubspot.touch_deal(acme, dealstage="closedwon")

    dry = sync(T0 + timedelta(minutes=4), "--dry-run-alerts")
    assert "Post to #wins (deal alert big-wins)" in dry and "Acme Corp" in dry
    assert "1 channel post, 0 DMs (dry run: nothing posted or claimed)" in " ".join(dry.split())
    assert fake_slack.calls_to("chat.postMessage") == []

    assert "Deal alerts: 1 posted, 0 DMs queued." in sync(T0 + timedelta(minutes=5))
    assert "Deal alerts:" not in sync(T0 + timedelta(minutes=6))
    (post,) = posts(fake_slack, WINS)
    assert "Acme Corp" in readable(post)


def test_a_change_made_through_drumbeat_alerts_too_and_names_who_made_it(
    sqlite_url: str,
    launch: Callable[[str], RunningApp],
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    clock: SettableClock,
    team: None,
) -> None:
    migrate_url(sqlite_url)
    deal(fake_hubspot, "Acme Corp", "101", "contractsent", "25000")
    app = launch(sqlite_url)
    sync_and_alert(app, clock, T0)

    clock.set(T0 + timedelta(minutes=1))
    outcome = app.runtime.deals.answer("U0ALICE", "acme stage=closedwon", None)
    assert isinstance(outcome, Accepted), outcome
    assert app.runtime.worker.run_once() == 1  # written to HubSpot; its answer updates the mirror
    assert sync_and_alert(app, clock, T0 + timedelta(minutes=2)) == 1

    (post,) = posts(fake_slack, WINS)
    assert "Changed by <@U0ALICE> in Slack" in readable(post)
    assert "Acme Corp" in readable(post)
