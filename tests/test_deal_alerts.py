"""Deal alerts end to end: changes in HubSpot, a sync, and what the team sees in Slack, said once.

The real runtime (create_runtime) against FakeSlack, the real HubSpot adapter against FakeHubSpot,
and the time injected everywhere (the app, the fake CRM's write stamps).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.deals.commands import Accepted
from core.mirror.sync import refresh_deals, sync_mirror
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
from tests.slack_text import readable, thread_of, top_level

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


@dataclass
class Scene:
    """A sales team in the fake HubSpot and Slack, the app's clock, and replicas of the app."""

    database_url: str
    hubspot: FakeHubSpot
    slack: FakeSlack
    clock: SettableClock
    started: list[RunningApp] = field(default_factory=list)
    rituals: str = ALERTS

    def deal(self, name: str, owner: str, stage: str, amount: str, close: str = "2027-01-29") -> str:
        return self.hubspot.add_deal(
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

    def replica(self) -> RunningApp:
        """One app on the real adapter (no background workers), stopped after the test."""
        app = start_app(
            make_settings(self.database_url, self.slack, self.hubspot),
            worker=False,
            rituals=parse_rituals_text(self.rituals),
            crm=fast_adapter(self.hubspot),
            clock=self.clock,
        )
        self.started.append(app)
        return app

    def watching(self, at: datetime = T0) -> RunningApp:
        """A replica whose first sync and first look at alerts are done: the past is behind it."""
        app = self.replica()
        assert self.minute(app, at) == 0
        return app

    def change(self, at: datetime, deal_id: str, **properties: str) -> None:
        """A person edits the deal in HubSpot at `at`."""
        self.clock.set(at)
        self.hubspot.touch_deal(deal_id, **properties)

    def minute(self, app: RunningApp, at: datetime) -> int:
        """What serve does every minute: an incremental sync, the alerts, then the queued posts."""
        self.clock.set(at)
        sync_mirror(app.services.crm, app.services.sessions, now=at)
        app.runtime.check_alerts()
        return app.runtime.alert_posts.run_once()

    def posts(self) -> list[dict[str, Any]]:
        return top_level(self.slack, WINS)

    def matches(self, app: RunningApp) -> int:
        with app.services.sessions() as session:
            return session.scalar(select(func.count()).select_from(AlertMatch)) or 0


@pytest.fixture
def scene(
    engine: Any, database_url: str, fake_hubspot: FakeHubSpot, fake_slack: FakeSlack
) -> Iterator[Scene]:
    fake_hubspot.add_default_pipeline()
    fake_hubspot.add_owner("101", "alice@acme.example", "Alice", "Martin")
    fake_hubspot.add_owner("102", "bruno@acme.example", "Bruno", "Costa")
    fake_slack.add_user("U0ALICE", "alice@acme.example", "Alice Martin", tz="Europe/Paris")
    fake_slack.add_user("U0BRUNO", "bruno@acme.example", "Bruno Costa", tz="Europe/Paris")
    fake_slack.add_user("U0MAXIME", "maxime@acme.example", "Maxime Laurent", tz="Europe/Paris")
    fake_slack.add_channel(WINS, "wins")
    clock = SettableClock(T0)
    fake_hubspot.clock = clock
    made = Scene(database_url, fake_hubspot, fake_slack, clock)
    yield made
    for app in made.started:
        stop_app(app)


def minutes(n: int) -> datetime:
    return T0 + timedelta(minutes=n)


def test_a_big_win_is_posted_once_after_the_next_sync_and_a_small_one_is_not(scene: Scene) -> None:
    acme = scene.deal("Acme Corp", "101", "contractsent", "25000")
    small = scene.deal("Tiny Ltd", "101", "contractsent", "5000")
    already_won = scene.deal("Old Win", "102", "closedwon", "90000")
    # The first sync is the past: nothing alerts, not even a deal already won.
    app = scene.watching()
    assert scene.posts() == []

    scene.change(minutes(3), acme, dealstage="closedwon")
    scene.change(minutes(3), small, dealstage="closedwon")
    scene.change(minutes(3), already_won, amount="95000")
    assert scene.minute(app, minutes(4)) == 1

    (post,) = scene.posts()
    text = readable(post)
    assert "Acme Corp" in text and "is won! Congratulations <@U0ALICE> — €25,000" in text
    assert "Stage: Contract Sent → *Closed Won*" in text
    assert "Tiny Ltd" not in text and "Old Win" not in text
    # The next minutes' syncs look at an overlapping window: the same change is not said again.
    assert scene.minute(app, minutes(5)) == scene.minute(app, minutes(6)) == 0
    assert len(scene.posts()) == 1


def test_two_replicas_seeing_the_same_change_post_it_once(scene: Scene) -> None:
    acme = scene.deal("Acme Corp", "101", "contractsent", "25000")
    first, second = scene.watching(), scene.replica()
    scene.change(minutes(3), acme, dealstage="closedwon")
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def replica(app: RunningApp) -> None:
        try:
            barrier.wait(timeout=10)
            scene.minute(app, minutes(4))
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(app,)) for app in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(scene.posts()) == 1
    assert scene.matches(first) == 1


def test_a_bulk_change_becomes_one_summary_with_the_deals_in_its_thread(scene: Scene) -> None:
    ids = [scene.deal(f"Imported {i:03d}", "102", "contractsent", "30000") for i in range(200)]
    app = scene.watching()
    for deal_id in ids:
        scene.change(minutes(3), deal_id, dealstage="closedwon")
    assert scene.minute(app, minutes(4)) == 1

    (post,) = scene.posts()
    assert "200 deals moved to Closed Won* in one change" in readable(post)
    assert "€6,000,000" in readable(post)  # 200 deals of 30,000, one currency
    assert_every_deal_listed_or_counted(thread_of(scene.slack, WINS, post["ts"]), "Imported", 200)
    assert scene.matches(app) == 200


def assert_every_deal_listed_or_counted(replies: list[dict[str, Any]], name: str, total: int) -> None:
    """Each reply within Slack's 3,000 characters a section; no deal cut off or lost."""
    sections = [block["text"]["text"] for reply in replies for block in reply["blocks"]]
    assert all(len(text) <= 3000 for text in sections)
    listed = sum(text.count(f"|{name} ") for text in sections)
    more = re.search(r"…and (\d+) more\.", sections[-1])
    assert listed + (int(more.group(1)) if more else 0) == total
    assert all(line.endswith(("€30,000", "more.")) for text in sections for line in text.splitlines())


def test_long_deal_names_are_listed_whole_in_the_summary_thread(scene: Scene) -> None:
    long_name = "Acme & <Sons> — Enterprise platform licence, EMEA rollout (3 years) phase"
    ids = [scene.deal(f"{long_name} {i:02d}", "102", "contractsent", "30000") for i in range(45)]
    app = scene.watching()
    for deal_id in ids:
        scene.change(minutes(3), deal_id, dealstage="closedwon")
    scene.minute(app, minutes(4))
    (post,) = scene.posts()
    replies = thread_of(scene.slack, WINS, post["ts"])
    assert_every_deal_listed_or_counted(replies, "Acme &amp; &lt;Sons&gt;", 45)


def test_a_bulk_change_arriving_in_webhook_batches_is_summed_up_once_it_settles(scene: Scene) -> None:
    ids = [scene.deal(f"Imported {i:03d}", "102", "contractsent", "30000") for i in range(40)]
    app = scene.watching()
    moment = minutes(2)
    for batch in range(8):  # 5 deals every 5 seconds, each batch re-read by a webhook
        moment += timedelta(seconds=5)
        for deal_id in ids[batch * 5 : batch * 5 + 5]:
            scene.change(moment, deal_id, dealstage="closedwon")
        refresh_deals(app.services.crm, app.services.sessions, ids[batch * 5 : batch * 5 + 5], now=moment)
        app.runtime.alerts.evaluate(settle=timedelta(seconds=20))
        app.runtime.alert_posts.run_once()
    # The first batch fit the rule's 5 posts; the rest of the burst is held, not posted one by one.
    assert len(scene.posts()) == 5
    assert scene.minute(app, moment + timedelta(seconds=30)) == 1  # the minute's sync says it all
    summary = scene.posts()[-1]
    assert "35 deals moved to Closed Won* in one change" in readable(summary)
    assert scene.minute(app, moment + timedelta(seconds=90)) == 0


def test_a_change_a_slow_sync_commits_after_the_last_look_is_still_said(scene: Scene) -> None:
    """History rows carry the sync's start time: a long sync's late pages are older than the look
    that ran meanwhile, and must not be skipped for that."""
    acme = scene.deal("Acme Corp", "101", "contractsent", "25000")
    app = scene.watching()
    scene.change(minutes(1), acme, dealstage="closedwon")
    scene.clock.set(minutes(20))
    assert app.runtime.check_alerts().planned == []  # a look (a webhook's, a replica's) meanwhile
    sync_mirror(app.services.crm, app.services.sessions, now=minutes(2))  # the sync that began at 2
    scene.clock.set(minutes(21))
    app.runtime.check_alerts()
    assert app.runtime.alert_posts.run_once() == 1
    assert "Acme Corp" in readable(scene.posts()[0])


def test_a_managers_dm_waits_for_the_end_of_quiet_hours(scene: Scene) -> None:
    globex = scene.deal("Globex", "101", "presentationscheduled", "12000")
    evening = datetime(2026, 12, 1, 21, 0, tzinfo=UTC)  # 22:00 in Paris: quiet
    app = scene.watching(evening)
    scene.change(evening + timedelta(minutes=1), globex, dealstage="contractsent")
    scene.minute(app, evening + timedelta(minutes=2))

    with app.services.sessions() as session:
        (queued,) = session.scalars(select(PendingDM).where(PendingDM.ritual_id == "contract-sent"))
    assert queued.slack_user == "U0MAXIME"
    assert queued.send_after == datetime(2026, 12, 2, 7, 30, tzinfo=UTC)  # 08:30 in Paris
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 0
    assert scene.slack.messages_in("U0MAXIME") == []

    scene.clock.set(datetime(2026, 12, 2, 7, 31, tzinfo=UTC))
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 1
    (dm,) = scene.slack.messages_in("U0MAXIME")
    assert "Globex" in readable(dm) and "Stage: Presentation Scheduled → *Contract Sent*" in readable(dm)


def test_a_big_deal_that_slipped_is_posted_with_an_update_button(scene: Scene) -> None:
    big = scene.deal("Initech", "102", "decisionmakerboughtin", "80000", close="2026-12-15")
    nearly = scene.deal("Hooli", "102", "decisionmakerboughtin", "80000", close="2026-12-15")
    app = scene.watching()
    scene.change(minutes(3), big, closedate="2027-01-15T00:00:00Z")
    scene.change(minutes(3), nearly, closedate="2026-12-22T00:00:00Z")  # 7 days: under the rule's 14
    scene.minute(app, minutes(4))

    (post,) = scene.posts()
    text = readable(post)
    assert "Initech" in text and "Close date: 15 Dec 2026 → *15 Jan 2027* (+31 days)" in text
    assert "Hooli" not in text
    (actions,) = [b for b in post["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [("deal.update", big)]


def test_alerts_never_fire_for_the_mirror_that_existed_before_they_started_watching(scene: Scene) -> None:
    """Upgrading: history recorded before alerts existed (or before their first look) is the past."""
    acme = scene.deal("Acme Corp", "101", "contractsent", "25000")
    app = scene.replica()
    sync_mirror(app.services.crm, app.services.sessions, now=T0)
    scene.change(minutes(1), acme, dealstage="closedwon")
    scene.clock.set(minutes(2))
    sync_mirror(app.services.crm, app.services.sessions, now=minutes(2))  # no alert looked yet
    assert app.runtime.check_alerts().started_watching
    assert app.runtime.alert_posts.run_once() == 0
    assert scene.minute(app, minutes(3)) == 0
    assert scene.posts() == []


def test_a_change_made_through_drumbeat_alerts_too_and_names_who_made_it(scene: Scene) -> None:
    scene.deal("Acme Corp", "101", "contractsent", "25000")
    app = scene.watching()
    scene.clock.set(minutes(1))
    outcome = app.runtime.deals.answer("U0ALICE", "acme stage=closedwon", None)
    assert isinstance(outcome, Accepted), outcome
    assert app.runtime.worker.run_once() == 1  # written to HubSpot; its answer updates the mirror
    assert scene.minute(app, minutes(2)) == 1

    (post,) = scene.posts()
    assert "Changed by <@U0ALICE> in Slack" in readable(post)
    assert "Acme Corp" in readable(post)


def test_drumbeat_sync_prints_the_alerts_with_dry_run_then_posts_them_once(
    tmp_path: Path, scene: Scene
) -> None:
    rituals = tmp_path / "rituals.yaml"
    rituals.write_text(ALERTS)
    env = {
        "DATABASE_URL": scene.database_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": scene.slack.api_url,
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
        "HUBSPOT_API_URL": scene.hubspot.url,
        "RITUALS_FILE": str(rituals),
    }
    acme = scene.deal("Acme Corp", "101", "contractsent", "25000")

    def sync(moment: datetime, *extra: str) -> str:
        scene.clock.set(moment)
        result = run_drumbeat("sync", "--now", moment.isoformat(), *extra, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert BOT_TOKEN not in result.stdout + result.stderr
        return result.stdout

    assert "Deal alerts: watching for changes from now on." in sync(T0)
    scene.change(minutes(3), acme, dealstage="closedwon")

    dry = sync(minutes(4), "--dry-run-alerts")
    assert "Post to #wins (deal alert big-wins)" in dry and "Acme Corp" in dry
    assert "1 channel post, 0 DMs (dry run: nothing posted or claimed)" in " ".join(dry.split())
    assert scene.slack.calls_to("chat.postMessage") == []

    assert "Deal alerts: 1 posted, 0 DMs queued." in sync(minutes(5))
    assert "Deal alerts:" not in sync(minutes(6))
    (post,) = scene.posts()
    assert "Acme Corp" in readable(post)


def test_many_matches_for_one_manager_become_one_dm_with_the_list_in_it(scene: Scene) -> None:
    ids = [scene.deal(f"Renewal {i}", "101", "presentationscheduled", "9000") for i in range(6)]
    app = scene.watching()
    for deal_id in ids:
        scene.change(minutes(3), deal_id, dealstage="contractsent")
    scene.minute(app, minutes(4))
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 1

    (dm,) = scene.slack.messages_in("U0MAXIME")
    text = readable(dm)
    assert "6 deals moved to Contract Sent* in one change (contract-sent): the list follows." in text
    assert all(f"Renewal {i}" in text for i in range(6))


def test_a_dm_whose_recipient_slack_cannot_look_up_waits_for_the_next_look(scene: Scene) -> None:
    globex = scene.deal("Globex", "101", "presentationscheduled", "12000")
    app = scene.watching()
    scene.change(minutes(1), globex, dealstage="contractsent")
    scene.slack.server_error("users.lookupByEmail")  # the manager, named by email in `people:`
    clock_at = minutes(2)
    scene.clock.set(clock_at)
    sync_mirror(app.services.crm, app.services.sessions, now=clock_at)
    first = app.runtime.check_alerts()
    assert first.planned == [] and any("could not be asked" in w for w in first.warnings)

    scene.minute(app, minutes(3))  # Slack answers again: the held match is said now, once
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 1
    (dm,) = scene.slack.messages_in("U0MAXIME")
    assert "Globex" in readable(dm)
    scene.minute(app, minutes(4))
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 0


def test_serves_minute_sync_posts_the_alerts_it_finds(scene: Scene) -> None:
    acme = scene.deal("Acme Corp", "101", "contractsent", "25000")
    app = scene.replica()
    scheduler = app.runtime.scheduler(app.services)
    scene.clock.set(T0)
    scheduler.refresh_mirror()  # the first minute: the past
    scene.change(minutes(1), acme, dealstage="closedwon")
    scene.clock.set(minutes(2))
    scheduler.refresh_mirror()  # what the job runs every minute, then the alerts
    assert app.runtime.alert_posts.run_once() == 1
    assert "Acme Corp" in readable(scene.posts()[0])


def test_a_post_slack_refuses_for_a_fixable_reason_waits_and_goes_out_once_fixed(scene: Scene) -> None:
    acme = scene.deal("Acme Corp", "101", "contractsent", "25000")
    app = scene.watching()
    scene.change(minutes(1), acme, dealstage="closedwon")
    scene.slack.revoke_token(error="token_revoked")
    scene.minute(app, minutes(2))  # refused: kept, not given up
    scene.slack.restore_token()
    scene.clock.set(minutes(4))
    assert app.runtime.alert_posts.run_once() == 1
    (post,) = scene.posts()
    assert "Acme Corp" in readable(post)


# --------------------------------------------------------------------------------------------
# In French: a channel in its rule's `language:`, a DM in its reader's


FRENCH_ALERTS = """
timezone: Europe/Paris
language: en
people:
  - {crm_owner: "101", slack: U0ALICE, manager: claire@acme.example}
  - {crm_owner: "102", slack: U0BRUNO, manager: maxime@acme.example}
rituals:
  - id: big-wins
    kind: deal_alert
    when: {stage_becomes: closedwon, amount_at_least: 20000}
    post_to: "#wins"
    mention_owner: true
    language: fr
  - id: contract-sent
    kind: deal_alert
    when: {stage_becomes: Contract Sent}
    post_to: manager
    max_posts_per_sync: 2
"""
NNBSP = "\u202f"
NBSP = "\u00a0"


def test_a_french_channel_and_a_french_manager_read_alerts_in_french(scene: Scene) -> None:
    scene.slack.add_user("U0CLAIRE", "claire@acme.example", "Claire Dubois", locale="fr-FR")
    scene.rituals = FRENCH_ALERTS
    scene.deal("Acme Corp", "101", "contractsent", "25000")
    globex = scene.deal("Globex", "101", "presentationscheduled", "12000")
    initech = scene.deal("Initech", "102", "presentationscheduled", "8000")
    app = scene.watching()
    scene.clock.set(minutes(1))
    outcome = app.runtime.deals.answer("U0ALICE", "acme stage=closedwon", None)
    assert isinstance(outcome, Accepted), outcome
    assert app.runtime.worker.run_once() == 1
    scene.change(minutes(1), globex, dealstage="contractsent", amount="15000")
    scene.change(minutes(1), initech, dealstage="contractsent")
    scene.minute(app, minutes(2))
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 2

    link = "https://app.hubspot.com/go-to/0-3/"
    (post,) = scene.posts()
    assert post["text"] == "🎉 L\u2019affaire Acme Corp est gagnée"
    assert block_texts(post) == [
        f"🎉 L\u2019affaire *<{link}10000000001|Acme Corp>* est gagnée{NBSP}! "
        f"Bravo <@U0ALICE> — 25{NNBSP}000{NBSP}€\n"
        f"• Étape{NBSP}: Contract Sent → *Closed Won*",
        "Modifiée par <@U0ALICE> dans Slack · Sales Pipeline · alerte `big-wins`",
    ]
    # Alice's manager reads French; Bruno's, in the same look, English.
    (french,) = scene.slack.messages_in("U0CLAIRE")
    assert french["text"] == "Globex a changé"
    assert block_texts(french) == [
        f"*<{link}10000000002|Globex>* — 15{NNBSP}000{NBSP}€ · responsable Alice Martin\n"
        f"• Étape{NBSP}: Presentation Scheduled → *Contract Sent*\n"
        f"• Montant{NBSP}: 12{NNBSP}000{NBSP}€ → *15{NNBSP}000{NBSP}€* (+25{NBSP}%)",
        "Sales Pipeline · alerte `contract-sent`",
    ]
    (english,) = scene.slack.messages_in("U0MAXIME")
    assert english["text"] == "Initech changed"
    assert block_texts(english) == [
        f"*<{link}10000000003|Initech>* — €8,000 · owner Bruno Costa\n"
        "• Stage: Presentation Scheduled → *Contract Sent*",
        "Sales Pipeline · alert `contract-sent`",
    ]


def test_a_bulk_change_is_summed_up_in_french_in_the_channel_and_in_a_french_dm(scene: Scene) -> None:
    scene.slack.add_user("U0CLAIRE", "claire@acme.example", "Claire Dubois", locale="fr-FR")
    scene.rituals = FRENCH_ALERTS
    won = [scene.deal(f"Import {i}", "102", "contractsent", "30000") for i in range(6)]
    sent = [scene.deal(f"Renouvellement {i}", "101", "presentationscheduled", "9000") for i in range(3)]
    app = scene.watching()
    for deal_id in won:
        scene.change(minutes(3), deal_id, dealstage="closedwon")
    for deal_id in sent:
        scene.change(minutes(3), deal_id, dealstage="contractsent")
    scene.minute(app, minutes(4))
    assert app.runtime.engine.deliver_due(app.runtime.send_dm) == 1

    (post,) = scene.posts()
    assert post["text"] == "6 affaires passées en Closed Won en une seule modification"
    assert block_texts(post) == [
        "*6 affaires passées en Closed Won* en une seule modification (big-wins)"
        f"{NBSP}: la liste est dans le fil.",
        f"180{NNBSP}000{NBSP}€",
    ]
    (reply,) = thread_of(scene.slack, WINS, post["ts"])
    assert reply["text"] == "Affaires 1 à 6"
    assert block_texts(reply)[0].splitlines()[0] == (
        f"• *<https://app.hubspot.com/go-to/0-3/{won[0]}|Import 0>* — 30{NNBSP}000{NBSP}€"
    )
    (dm,) = scene.slack.messages_in("U0CLAIRE")
    assert block_texts(dm)[:2] == [
        "*3 affaires passées en Contract Sent* en une seule modification (contract-sent)"
        f"{NBSP}: la liste suit.",
        f"27{NNBSP}000{NBSP}€",
    ]


def block_texts(message: dict[str, Any]) -> list[str]:
    return [
        element["text"]
        for block in message["blocks"]
        for element in ([block["text"]] if "text" in block else block.get("elements", []))
        if isinstance(element, dict) and element.get("type") == "mrkdwn"
    ]
