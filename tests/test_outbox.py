"""No lost update: CRM outages, crashes on either side of the CRM write, and replicas sharing the queue."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.models import OutboxEntry, ReceivedCommand
from core.queues.outbox import ApplyToCrm, ChangeRequest, Outbox, Write, enqueue, outbox_worker
from tests.conftest import stop_app
from tests.deal_scenario import SettableClock, outbox_rows, seed, start_drumbeat, wait_until
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.hubspot_helpers import DEAL_BATCH_UPDATE as WRITE, deal_writes, fast_adapter


def _flat(payload: dict[str, Any]) -> str:
    import json

    return json.dumps(payload, ensure_ascii=False)


def test_a_crm_outage_queues_the_update_and_confirms_once_it_goes_through(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    team = seed(fake_hubspot, fake_slack)
    clock = SettableClock()
    app = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=clock)
    try:
        fake_hubspot.fail_next(4, status=503, path_contains=WRITE)  # one whole round of retries fails
        url = fake_slack.response_url()
        ack = app.slack.slash_command("acme corp amount=9k", user_id="U0ALICE", response_url=url)
        assert "Working on it" in ack.text  # stored before the ack
        queued = wait_until(
            lambda: [r for r in fake_slack.responses(url) if "queued" in _flat(r)], what="queued"
        )
        assert "It's safe" in _flat(queued[0])
        assert fake_hubspot.deals[team.acme]["properties"]["amount"] == "10000"
        clock.advance(seconds=30)  # past the first backoff
        wait_until(lambda: any("Saved" in _flat(r) for r in fake_slack.responses(url)), what="saved")
        assert fake_hubspot.deals[team.acme]["properties"]["amount"] == "9000"
        assert [e.status for e in outbox_rows(app)] == ["done"]
        assert sum("queued" in _flat(r) for r in fake_slack.responses(url)) == 1
    finally:
        stop_app(app)


def test_acks_stay_fast_while_the_crm_is_slow(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    team = seed(fake_hubspot, fake_slack)
    app = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=SettableClock())
    try:
        fake_hubspot.latency = 4.0
        started = time.monotonic()
        ack = app.slack.slash_command(
            "acme corp amount=8k", user_id="U0ALICE", response_url=fake_slack.response_url()
        )
        assert time.monotonic() - started < 3.0
        assert "Working on it" in ack.text  # stored before the ack
        wait_until(
            lambda: fake_hubspot.deals[team.acme]["properties"]["amount"] == "8000", timeout=30, what="saved"
        )
    finally:
        fake_hubspot.latency = 0
        stop_app(app)


def test_an_update_accepted_while_no_worker_runs_is_applied_after_restart(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    team = seed(fake_hubspot, fake_slack)
    clock = SettableClock()
    crashed = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=clock, worker=False)
    url = fake_slack.response_url()
    try:
        ack = crashed.slack.slash_command(
            'acme corp amount=13k note "Call went well"', user_id="U0ALICE", response_url=url
        )
        assert "Working on it" in ack.text  # stored before the ack
        time.sleep(0.5)
        with crashed.services.sessions() as session:
            assert session.scalars(select(ReceivedCommand.status)).all() == ["received"]
        assert fake_hubspot.deals[team.acme]["properties"]["amount"] == "10000"
    finally:
        stop_app(crashed)  # the process dies between the ack and the CRM write

    restarted = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=clock)
    try:
        wait_until(
            lambda: any("Saved" in _flat(r) for r in fake_slack.responses(url)), what="saved after restart"
        )
        assert fake_hubspot.deals[team.acme]["properties"]["amount"] == "13000"
        notes = [
            n for n in fake_hubspot.notes.values() if "Call went well" in n["properties"]["hs_note_body"]
        ]
        assert len(notes) == 1
    finally:
        stop_app(restarted)


def test_a_crash_after_the_crm_write_does_not_apply_it_twice(
    sessions: Any, fake_hubspot: FakeHubSpot
) -> None:
    fake_hubspot.add_default_pipeline()
    fake_hubspot.add_owner("101", "alice@acme.example", "Alice", "Martin")
    deal_id = fake_hubspot.add_deal(
        dealname="Acme", pipeline="default", dealstage="qualifiedtobuy", hubspot_owner_id="101"
    )
    crm = fast_adapter(fake_hubspot)
    from core.mirror.sync import sync_mirror

    clock = SettableClock()
    sync_mirror(crm, sessions, now=clock())
    with sessions.begin() as session:
        enqueue(
            session,
            ChangeRequest(
                deal_id,
                "Acme",
                {"stage_id": "contractsent"},
                {"stage_id": "qualifiedtobuy"},
                "Signed soon",
                "U0ALICE",
                "slash",
            ),
            now=clock(),
        )
    outbox = Outbox(sessions, clock)
    (entry,) = outbox.claim("first-worker")
    ApplyToCrm(outbox, crm, lambda notice: None).write([Write(entry, dict(entry.changes), [])])
    # ...and the worker dies before marking it done
    assert outbox.claim("second-worker") == []  # the lease still holds
    clock.advance(minutes=11)  # the lease runs out
    told: list[str] = []
    worker = outbox_worker(outbox, crm, lambda notice: told.append(notice.kind), threads=1)
    assert worker.run_once() == 1
    assert told == ["done"]
    assert fake_hubspot.deals[deal_id]["properties"]["dealstage"] == "contractsent"
    notes = [n for n in fake_hubspot.notes.values() if "Signed soon" in n["properties"]["hs_note_body"]]
    assert len(notes) == 1
    with sessions() as session:
        assert session.scalars(select(OutboxEntry.status)).all() == ["done"]


@pytest.mark.postgres
def test_two_replicas_on_postgresql_apply_200_queued_updates_exactly_once(
    migrated_postgres_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    seed(fake_hubspot, fake_slack)
    extra = [
        fake_hubspot.add_deal(
            dealname=f"Bulk {i}", pipeline="default", dealstage="qualifiedtobuy", hubspot_owner_id="101"
        )
        for i in range(50)
    ]
    clock = SettableClock()
    first = start_drumbeat(migrated_postgres_url, fake_slack, fake_hubspot, clock=clock, worker=False)
    second = start_drumbeat(migrated_postgres_url, fake_slack, fake_hubspot, clock=clock, worker=False)
    try:
        now = datetime.now(UTC)
        with first.services.sessions.begin() as session:
            for i in range(200):
                deal_id = extra[i % len(extra)]
                enqueue(
                    session,
                    ChangeRequest(
                        deal_id,
                        f"Bulk {i}",
                        {"amount": str(1000 + i)},
                        {},
                        f"bulk note {i}",
                        "U0ALICE",
                        "slash",
                    ),
                    now=now - timedelta(seconds=1),
                )
        fake_hubspot.reset_requests()
        first.runtime.start_workers()
        second.runtime.start_workers()
        wait_until(
            lambda: all(e.status == "done" for e in outbox_rows(first)), timeout=120, what="200 applied"
        )
        rows = outbox_rows(first)
        assert len(rows) == 200
        # Four updates per deal go one round at a time (their order), each claim one batch update:
        # far fewer requests than updates (it was one PATCH and one GET each).
        assert 4 <= fake_hubspot.request_count(path_contains=WRITE) <= 100
        assert len(deal_writes(fake_hubspot)) == 200
        assert fake_hubspot.request_count(path_contains="/notes/search") == 0  # no look on a first try
        bulk_notes = [
            n for n in fake_hubspot.notes.values() if "bulk note" in n["properties"]["hs_note_body"]
        ]
        assert len(bulk_notes) == 200
        # Which replica applied what is not asserted: one claim takes up to 100 updates (one per
        # deal), so either replica may take a whole round; each update must be applied once.
        assert all(r.attempts == 1 for r in rows)
    finally:
        stop_app(first)
        stop_app(second)


def test_a_command_worked_out_twice_after_a_crash_queues_its_change_once(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    team = seed(fake_hubspot, fake_slack)
    app = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=SettableClock(), worker=False)
    try:
        url = fake_slack.response_url()
        ack = app.slack.slash_command("acme corp amount=14k", user_id="U0ALICE", response_url=url)
        assert "Working on it" in ack.text
        commands = app.runtime.commands
        (command,) = commands.queue.claim(commands.holder)
        commands.process([command])  # answered and queued...
        commands.process([command])  # ...and again, as after a crash before it was marked done
        assert len(outbox_rows(app)) == 1
        assert sum("Saving to HubSpot" in _flat(r) for r in fake_slack.responses(url)) == 2
        app.runtime.start_workers()
        wait_until(lambda: fake_hubspot.deals[team.acme]["properties"]["amount"] == "14000", what="applied")
        assert fake_hubspot.request_count(path_contains=WRITE) == 1
    finally:
        stop_app(app)


@pytest.mark.postgres
def test_successive_changes_to_one_deal_reach_the_crm_in_order(
    migrated_postgres_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    seed(fake_hubspot, fake_slack)
    deals = [
        fake_hubspot.add_deal(
            dealname=f"Ordered {i}", pipeline="default", dealstage="qualifiedtobuy", hubspot_owner_id="101"
        )
        for i in range(10)
    ]
    clock = SettableClock()
    replicas = [
        start_drumbeat(migrated_postgres_url, fake_slack, fake_hubspot, clock=clock, worker=False)
        for _ in range(2)
    ]
    try:
        with replicas[0].services.sessions.begin() as session:
            for step in range(5):  # five successive amounts per deal; the last must win
                for i, deal_id in enumerate(deals):
                    enqueue(
                        session,
                        ChangeRequest(
                            deal_id,
                            f"Ordered {i}",
                            {"amount": str(1000 * (step + 1) + i)},
                            {},
                            None,
                            "U0ALICE",
                            "slash",
                        ),
                        now=clock(),
                    )
        for replica in replicas:
            replica.runtime.start_workers()
        wait_until(
            lambda: all(e.status == "done" for e in outbox_rows(replicas[0])), timeout=60, what="applied"
        )
        assert [fake_hubspot.deals[d]["properties"]["amount"] for d in deals] == [
            str(5000 + i) for i in range(10)
        ]
    finally:
        for replica in replicas:
            stop_app(replica)
