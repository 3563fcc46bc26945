"""The rituals engine end to end: real app, fake HubSpot and Slack, injected time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.models import NudgeRecord, PendingDM, RitualFiring, Snooze
from rituals.config import parse_rituals_text
from tests.conftest import RunningApp, stop_app
from tests.deal_scenario import SettableClock, Team, seed, start_drumbeat, wait_until
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack

RITUALS = """
timezone: Europe/Paris
admins: [U0ADMIN]
people:
  - {crm_owner: "101", slack: U0ALICE, manager: U0MAXIME}
  - {crm_owner: "102", slack: U0BRUNO, manager: U0MAXIME}
quiet_hours: {start: "19:00", end: "08:30"}
rituals:
  - id: stale-deals
    kind: stale_deals
    schedule: "0 9 * * mon-fri"
    stale_after_days: 14
    snooze_days: [3, 7, 14]
  - id: deal-hygiene
    kind: hygiene
    schedule: "10 9 * * mon-fri"
    rules:
      - {check: close_date_past}
      - {check: missing, field: amount}
  - id: night-check
    kind: stale_deals
    schedule: "30 2 * * *"
"""
TUESDAY_9 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # 09:00 in Paris


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(TUESDAY_9)


@pytest.fixture
def team(fake_hubspot: FakeHubSpot, fake_slack: FakeSlack) -> Team:
    return seed(fake_hubspot, fake_slack, now=TUESDAY_9)


@pytest.fixture
def app(
    engine: Any,
    database_url: str,
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    team: Team,
    clock: SettableClock,
) -> Iterator[RunningApp]:
    running = start_drumbeat(
        database_url, fake_slack, fake_hubspot, clock=clock, rituals=parse_rituals_text(RITUALS)
    )
    yield running
    stop_app(running)


def dms(slack: FakeSlack, user: str) -> list[dict[str, Any]]:
    return slack.messages_in(user)


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks", []), ensure_ascii=False)


def deliver(app: RunningApp) -> int:
    return app.runtime.engine.deliver_due(app.runtime.send_dm)


def count(app: RunningApp, model: Any) -> int:
    with app.services.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_stale_deals_dm_lists_only_that_persons_stale_deals(app: RunningApp, fake_slack: FakeSlack) -> None:
    report = app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
    assert deliver(app) == 1
    (message,) = dms(fake_slack, "U0ALICE")
    text = text_of(message)
    assert "Hi Alice! 2 of your 3 open deals are fresh — 1 needs a look." in text
    assert "Initech" in text
    assert "untouched for 40 days" in text
    for other in ("Acme Corp", "Acme Logistics", "Globex", "Umbrella"):
        assert other not in text
    assert dms(fake_slack, "U0BRUNO") == []
    assert report.summary() == "stale-deals: queued DMs for 1 person; 0 DMs delivered now."


def test_the_same_firing_runs_once(app: RunningApp, fake_slack: FakeSlack) -> None:
    first = app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
    second = app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
    deliver(app)
    assert not first.already_ran
    assert second.already_ran
    assert len(dms(fake_slack, "U0ALICE")) == 1
    assert count(app, RitualFiring) == 1


def test_a_dry_run_sends_and_writes_nothing(app: RunningApp, fake_slack: FakeSlack) -> None:
    report = app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9, dry_run=True)
    assert [dm.slack_user for dm in report.dms] == ["U0ALICE"]
    assert "Initech" in json.dumps(report.dms[0].blocks)
    assert deliver(app) == 0
    assert fake_slack.calls_to("chat.postMessage") == []
    assert count(app, RitualFiring) == count(app, NudgeRecord) == count(app, PendingDM) == 0
    real = app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
    assert not real.already_ran  # as if the dry run never happened
    assert deliver(app) == 1


def test_quiet_hours_defer_the_dm_to_the_end_of_the_window(
    app: RunningApp, fake_slack: FakeSlack, clock: SettableClock
) -> None:
    evening = datetime(2026, 11, 24, 19, 30, tzinfo=UTC)  # 20:30 in Paris
    clock.set(evening)
    app.runtime.engine.run("stale-deals", scheduled_for=evening)
    assert deliver(app) == 0
    with app.services.sessions() as session:
        (pending,) = session.scalars(select(PendingDM)).all()
    assert pending.send_after == datetime(2026, 11, 25, 7, 30, tzinfo=UTC)  # 08:30 in Paris
    clock.set(datetime(2026, 11, 25, 7, 29, tzinfo=UTC))
    assert deliver(app) == 0
    clock.set(datetime(2026, 11, 25, 7, 31, tzinfo=UTC))
    assert deliver(app) == 1
    assert len(dms(fake_slack, "U0ALICE")) == 1


def test_quiet_hours_follow_each_persons_own_time_zone_across_midnight(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    # Chloé works from New York: 09:00 in Paris is 03:00 for her, inside 19:00-08:30.
    old = str(int((TUESDAY_9 - timedelta(days=30)).timestamp() * 1000))
    fake_hubspot.add_deal(
        dealname="Hooli",
        hubspot_owner_id="103",
        pipeline="default",
        dealstage="qualifiedtobuy",
        notes_last_updated=old,
        createdate=old,
    )
    app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
    deliver(app)
    assert dms(fake_slack, "U0CHLOE") == []
    with app.services.sessions() as session:
        pending = session.scalars(select(PendingDM).where(PendingDM.slack_user == "U0CHLOE")).one()
    assert pending.send_after == datetime(2026, 11, 24, 13, 30, tzinfo=UTC)  # 08:30 in New York


def test_nobody_gets_the_same_nudge_twice_in_a_day(
    app: RunningApp, fake_slack: FakeSlack, clock: SettableClock
) -> None:
    engine = app.runtime.engine
    engine.run("stale-deals", scheduled_for=TUESDAY_9)
    deliver(app)
    clock.advance(minutes=30)
    again = engine.run("stale-deals", scheduled_for=TUESDAY_9 + timedelta(minutes=30))
    assert again.already_nudged == 1
    assert again.dms == []
    wednesday = TUESDAY_9 + timedelta(days=1)
    clock.set(wednesday)
    engine.run("stale-deals", scheduled_for=wednesday)
    deliver(app)
    assert len(dms(fake_slack, "U0ALICE")) == 2  # still stale the next day: nudged again


def test_hygiene_waits_an_hour_after_the_mornings_nudge(
    app: RunningApp, fake_slack: FakeSlack, clock: SettableClock
) -> None:
    engine = app.runtime.engine
    engine.run("stale-deals", scheduled_for=TUESDAY_9)
    assert deliver(app) == 1
    clock.advance(minutes=10)
    report = engine.run("deal-hygiene", scheduled_for=TUESDAY_9 + timedelta(minutes=10))
    assert report.dms[0].send_after == TUESDAY_9 + timedelta(hours=1)
    assert deliver(app) == 0
    clock.set(TUESDAY_9 + timedelta(hours=1))
    assert deliver(app) == 1
    hygiene = text_of(dms(fake_slack, "U0ALICE")[-1])
    assert "no amount" in hygiene  # Initech
    assert "has passed" in hygiene  # Umbrella


def run_both_at_night_then_deliver_in_the_morning(app: RunningApp, clock: SettableClock) -> int:
    """Both rituals at 22:00 in Paris (quiet hours): their DMs wait for 08:30 and go out together."""
    night = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    clock.set(night)
    app.runtime.engine.run("stale-deals", scheduled_for=night)
    app.runtime.engine.run("deal-hygiene", scheduled_for=night)
    clock.set(datetime(2026, 11, 25, 7, 30, tzinfo=UTC))
    return deliver(app)


def test_nudges_and_hygiene_due_together_arrive_as_one_dm(
    app: RunningApp, fake_slack: FakeSlack, clock: SettableClock
) -> None:
    assert run_both_at_night_then_deliver_in_the_morning(app, clock) == 1
    (message,) = dms(fake_slack, "U0ALICE")
    assert "need" in text_of(message)
    assert "tidy up" in text_of(message)


def _click(app: RunningApp, slack: FakeSlack, action: dict[str, Any], user: str = "U0ALICE") -> Any:
    message = dms(slack, user)[-1]
    channel = slack.im_channel(user)
    return app.slack.block_actions(
        user_id=user,
        actions=[action],
        message=message,
        container={
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel,
            "is_ephemeral": False,
        },
        channel_id=channel or "D0",
    )


def test_still_on_track_logs_a_review_and_updates_the_message(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
    deliver(app)
    button = {"type": "button", "action_id": "nudge.on_track", "block_id": f"nudge-actions:{team.initech}"}
    response = _click(app, fake_slack, {**button, "value": team.initech})
    assert response.status_code == 200
    updated = wait_until(lambda: fake_slack.calls_to("chat.update"), what="chat.update")
    assert "Still on track: noted" in json.dumps(updated[-1].decoded("blocks"))
    wait_until(
        lambda: any("still on track" in n["properties"]["hs_note_body"] for n in fake_hubspot.notes.values()),
        what="review note",
    )
    with app.services.sessions() as session:
        assert session.scalars(select(NudgeRecord.answer)).all() == ["on_track"]


def test_snooze_hides_the_deal_until_it_ends_and_its_note_is_not_a_review(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team, clock: SettableClock
) -> None:
    engine = app.runtime.engine
    engine.run("stale-deals", scheduled_for=TUESDAY_9)
    deliver(app)
    select_action = {
        "type": "static_select",
        "action_id": "nudge.snooze",
        "block_id": f"nudge-actions:{team.initech}",
        "selected_option": {"text": {"type": "plain_text", "text": "7 days"}, "value": f"7:{team.initech}"},
    }
    _click(app, fake_slack, select_action)
    wait_until(lambda: fake_slack.calls_to("chat.update"), what="chat.update")
    wait_until(
        lambda: any(
            "Snoozed in Slack until" in n["properties"]["hs_note_body"] for n in fake_hubspot.notes.values()
        ),
        what="snooze note",
    )
    with app.services.sessions() as session:
        assert session.get(Snooze, team.initech) is not None
    for days, expect_nudge in ((1, False), (6, False), (8, True)):
        moment = TUESDAY_9 + timedelta(days=days)
        clock.set(moment)
        report = engine.run("stale-deals", scheduled_for=moment)
        assert bool(report.dms) is expect_nudge, days


def test_mark_lost_moves_the_deal_to_closed_lost(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
    deliver(app)
    button = {"type": "button", "action_id": "nudge.mark_lost", "block_id": f"nudge-actions:{team.initech}"}
    _click(app, fake_slack, {**button, "value": team.initech})
    wait_until(
        lambda: fake_hubspot.deals[team.initech]["properties"]["dealstage"] == "closedlost", what="lost"
    )


def test_update_opens_the_shared_modal(app: RunningApp, fake_slack: FakeSlack, team: Team) -> None:
    app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
    deliver(app)
    button = {"type": "button", "action_id": "nudge.update", "block_id": f"nudge-actions:{team.initech}"}
    _click(app, fake_slack, {**button, "value": team.initech})
    opened = wait_until(lambda: fake_slack.calls_to("views.open"), what="views.open")
    assert opened[0].decoded("view")["callback_id"] == "deal.update_modal"


def test_a_click_on_a_deal_closed_meanwhile_is_explained(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team, clock: SettableClock
) -> None:
    app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
    deliver(app)
    fake_hubspot.touch_deal(team.initech, dealstage="closedwon")
    from core.mirror.sync import sync_mirror

    sync_mirror(app.services.crm, app.services.sessions, now=clock())
    url = fake_slack.response_url()
    button = {"type": "button", "action_id": "nudge.mark_lost", "block_id": f"nudge-actions:{team.initech}"}
    message = dms(fake_slack, "U0ALICE")[-1]
    app.slack.block_actions(
        user_id="U0ALICE", actions=[{**button, "value": team.initech}], message=message, response_url=url
    )
    answer = wait_until(lambda: fake_slack.responses(url), what="answer")
    assert "already closed" in json.dumps(answer)
    assert fake_hubspot.deals[team.initech]["properties"]["dealstage"] == "closedwon"


def test_the_doubled_hour_of_a_dst_fall_back_is_one_firing(app: RunningApp) -> None:
    engine = app.runtime.engine
    # 02:30 happens twice in Paris on 25 October 2026: at 00:30Z (CEST) and 01:30Z (CET).
    first = engine.run("night-check", scheduled_for=datetime(2026, 10, 25, 0, 30, tzinfo=UTC), refresh=False)
    second = engine.run("night-check", scheduled_for=datetime(2026, 10, 25, 1, 30, tzinfo=UTC), refresh=False)
    assert not first.already_ran
    assert second.already_ran


def test_after_downtime_only_the_latest_missed_firing_within_grace_runs(
    app: RunningApp, clock: SettableClock
) -> None:
    engine = app.runtime.engine
    clock.set(TUESDAY_9 + timedelta(minutes=40))  # 09:40 Paris: 09:00 and 09:10 are within an hour
    ran = {r.ritual_id: r.scheduled_for for r in engine.catch_up()}
    # 02:30 (night-check) was six hours ago: skipped, not run late.
    assert ran == {"stale-deals": TUESDAY_9, "deal-hygiene": TUESDAY_9 + timedelta(minutes=10)}
    clock.set(TUESDAY_9 + timedelta(days=1, hours=3))  # Wednesday 12:00: the 09:00 firing is too old
    assert engine.catch_up() == []


def test_an_owner_with_no_slack_match_is_reported(
    app: RunningApp, fake_hubspot: FakeHubSpot, fake_slack: FakeSlack
) -> None:
    fake_hubspot.add_owner("104", "david@acme.example", "David", "Okafor")  # not in Slack
    old = str(int((TUESDAY_9 - timedelta(days=30)).timestamp() * 1000))
    fake_hubspot.add_deal(
        dealname="Tyrell",
        hubspot_owner_id="104",
        pipeline="default",
        dealstage="qualifiedtobuy",
        notes_last_updated=old,
        createdate=old,
    )
    report = app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
    assert report.unmatched_owners == ["David Okafor"]
    assert "no Slack match for David Okafor" in report.summary()
    assert [dm.slack_user for dm in report.dms] == ["U0ALICE"]


@pytest.mark.postgres
def test_two_replicas_firing_the_same_ritual_100_times_nudge_each_person_once_per_firing(
    migrated_postgres_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    import threading

    seed(fake_hubspot, fake_slack, now=TUESDAY_9)
    old = str(int((TUESDAY_9 - timedelta(days=30)).timestamp() * 1000))
    fake_hubspot.add_deal(
        dealname="Bruno's old one",
        hubspot_owner_id="102",
        pipeline="default",
        dealstage="qualifiedtobuy",
        notes_last_updated=old,
        createdate=old,
    )
    clock = SettableClock(TUESDAY_9)
    config = parse_rituals_text(RITUALS)
    replicas = [
        start_drumbeat(migrated_postgres_url, fake_slack, fake_hubspot, clock=clock, rituals=config)
        for _ in range(2)
    ]
    try:
        slots = [TUESDAY_9 + timedelta(days=day) for day in range(100)]
        results: list[Any] = []

        def fire(replica: RunningApp) -> None:
            for slot in slots:
                results.append(replica.runtime.engine.run("stale-deals", scheduled_for=slot, refresh=False))

        threads = [threading.Thread(target=fire, args=(replica,)) for replica in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        ran = [r for r in results if not r.already_ran]
        assert len(results) == 200
        assert len(ran) == 100  # each firing ran on exactly one replica
        assert {r.scheduled_for for r in ran} == set(slots)
        with replicas[0].services.sessions() as session:
            per_firing = session.execute(
                select(PendingDM.firing_id, PendingDM.slack_user, func.count()).group_by(
                    PendingDM.firing_id, PendingDM.slack_user
                )
            ).all()
            firings = session.scalar(select(func.count()).select_from(RitualFiring))
        assert firings == 100
        assert len(per_firing) == 200  # Alice and Bruno, in each of the 100 firings
        assert all(n == 1 for _, _, n in per_firing)
    finally:
        for replica in replicas:
            stop_app(replica)


def test_a_run_to_500_people_survives_slack_rate_limits(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    fake_hubspot.add_default_pipeline()
    old = str(int((TUESDAY_9 - timedelta(days=30)).timestamp() * 1000))
    for i in range(500):
        owner = str(2000 + i)
        fake_hubspot.add_owner(owner, f"rep{i}@acme.example", "Rep", str(i))
        fake_slack.add_user(f"U{i:05d}", f"rep{i}@acme.example", f"Rep {i}", tz="Europe/Paris")
        fake_hubspot.add_deal(
            dealname=f"Deal {i}",
            hubspot_owner_id=owner,
            pipeline="default",
            dealstage="qualifiedtobuy",
            notes_last_updated=old,
            createdate=old,
        )
    app = start_drumbeat(
        database_url,
        fake_slack,
        fake_hubspot,
        clock=SettableClock(TUESDAY_9),
        rituals=parse_rituals_text(RITUALS),
    )
    try:
        fake_slack.rate_limit("chat.postMessage", times=3, retry_after=1)
        report = app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
        assert len(report.dms) == 500
        assert deliver(app) == 500
        posted = [c for c in fake_slack.calls_to("chat.postMessage") if c.ok]
        assert sorted(c.params["channel"] for c in posted) == sorted(f"U{i:05d}" for i in range(500))
        with app.services.sessions() as session:
            assert session.scalars(select(PendingDM.status).distinct()).all() == ["sent"]
    finally:
        stop_app(app)


def test_a_deal_in_both_rituals_batched_into_one_dm_is_still_a_valid_message(
    app: RunningApp, fake_slack: FakeSlack, clock: SettableClock
) -> None:
    # Initech is stale and has no amount: both rituals list it, and quiet hours batch the two DMs.
    assert run_both_at_night_then_deliver_in_the_morning(app, clock) == 1
    (call,) = fake_slack.calls_to("chat.postMessage")
    assert call.ok, call.error
    ids = [b["block_id"] for b in call.decoded("blocks") if "block_id" in b]
    assert len(ids) == len(set(ids))


def test_spacing_never_pushes_a_dm_into_quiet_hours(
    app: RunningApp, fake_slack: FakeSlack, clock: SettableClock
) -> None:
    # A DM at 18:20 in Paris; the next ritual at 18:30 would wait until 19:20, inside 19:00-08:30.
    first = datetime(2026, 11, 24, 17, 20, tzinfo=UTC)
    clock.set(first)
    app.runtime.engine.run("stale-deals", scheduled_for=first)
    assert deliver(app) == 1
    later = first + timedelta(minutes=10)
    clock.set(later)
    report = app.runtime.engine.run("deal-hygiene", scheduled_for=later)
    assert report.dms[0].send_after == datetime(2026, 11, 25, 7, 30, tzinfo=UTC)  # 08:30 the next morning


def test_a_firing_abandoned_by_a_crash_is_run_again_without_doubling_dms(
    app: RunningApp, fake_slack: FakeSlack, clock: SettableClock
) -> None:
    from rituals import firing

    engine = app.runtime.engine
    ritual = app.services.rituals.ritual("stale-deals")
    with app.services.sessions.begin() as session:  # a process claimed it, then died before planning
        assert firing.claim(session, ritual, TUESDAY_9, claimed_by="dead", now=TUESDAY_9) is not None
    assert engine.run("stale-deals", scheduled_for=TUESDAY_9).already_ran  # too soon to call it abandoned
    clock.advance(minutes=20)
    rerun = engine.run("stale-deals", scheduled_for=TUESDAY_9)
    assert not rerun.already_ran
    deliver(app)
    assert len(dms(fake_slack, "U0ALICE")) == 1


def test_a_field_a_person_changed_in_hubspot_counts_as_a_review_but_an_apps_change_does_not(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team, clock: SettableClock
) -> None:
    # Initech has had no activity for 40 days. Another app writes to it: still stale.
    from integrations.base import DealUpdate
    from integrations.hubspot import HubSpotCRM

    HubSpotCRM(fake_hubspot.token, base_url=fake_hubspot.url).update_deal(
        team.initech, DealUpdate(next_step="Auto")
    )
    first = app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
    assert "Initech" in json.dumps(first.dms[0].blocks)
    # Then Alice moves its stage in HubSpot herself: a review, so tomorrow it is left alone.
    fake_hubspot.touch_deal(team.initech, dealstage="presentationscheduled")
    wednesday = TUESDAY_9 + timedelta(days=1)
    clock.set(wednesday)
    second = app.runtime.engine.run("stale-deals", scheduled_for=wednesday)
    assert all("Initech" not in json.dumps(dm.blocks) for dm in second.dms)
