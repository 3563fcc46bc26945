"""The one leased queue (`core.queues.leased`), on SQLite and PostgreSQL: leases, fencing, backoff,
the dead-letter state, grouped claims, and two claimers racing for the same rows."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from bot.db import create_db_engine, session_factory
from core.models import OutboxEntry, PendingDM, ReceivedCommand
from core.queues.commands import Answering, CommandInbox, command_worker
from core.queues.dms import DMQueue, dm_worker
from core.queues.leased import LeasedQueue, QueueSpec, QueueWorker
from core.queues.outbox import ChangeRequest, Outbox, enqueue
from tests.deal_scenario import SettableClock

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _commands(sessions: Any, count: int) -> list[int]:
    with sessions.begin() as session:
        return list(
            session.scalars(
                insert(ReceivedCommand).returning(ReceivedCommand.id, sort_by_parameter_order=True),
                [
                    {
                        "slack_user": "U0ALICE",
                        "text": f"acme amount={n}k",
                        "response_url": None,
                        "received_at": START,
                        "status": "received",
                        "attempts": 0,
                    }
                    for n in range(count)
                ],
            ).all()
        )


def _command(sessions: Any, command_id: int) -> ReceivedCommand:
    with sessions() as session:
        command = session.get(ReceivedCommand, command_id)
        assert command is not None
        return command


def test_a_lease_that_runs_out_is_claimed_again_and_fences_the_late_worker(sessions: Any) -> None:
    clock = SettableClock(START)
    inbox = CommandInbox(sessions, clock)
    (command_id,) = _commands(sessions, 1)
    (first,) = inbox.claim("worker-a", limit=10)
    assert inbox.claim("worker-b", limit=10) == []  # the lease holds
    clock.advance(seconds=61)  # worker-a stalls past its 60-second lease
    (second,) = inbox.claim("worker-b", limit=10)
    assert (second.id, second.attempts, second.locked_by) == (command_id, 2, "worker-b")
    assert not inbox.finish(first)  # the late worker may not record an outcome...
    assert not inbox.dead_letter(first, "too late")
    assert _command(sessions, command_id).status == "received"
    assert inbox.finish(second)  # ...the holder of the current claim may
    assert _command(sessions, command_id).status == "done"


def test_the_same_holder_claiming_again_is_fenced_by_the_attempt(sessions: Any) -> None:
    """Threads of one worker share a holder name: the attempt number still tells their claims apart."""
    clock = SettableClock(START)
    inbox = CommandInbox(sessions, clock)
    _commands(sessions, 1)
    (stale,) = inbox.claim("worker-a")
    clock.advance(seconds=61)
    (current,) = inbox.claim("worker-a")
    assert not inbox.retry(stale, "late")
    assert inbox.retry(current, "now")
    assert _command(sessions, current.id).last_error == "now"


def test_retries_back_off_exponentially_up_to_a_cap(sessions: Any) -> None:
    clock = SettableClock(START)
    outbox = Outbox(sessions, clock)
    with sessions.begin() as session:
        enqueue(
            session, ChangeRequest("d1", "Acme", {"amount": "1"}, {}, None, "U0ALICE", "slash"), now=START
        )
    waits = []
    for _ in range(9):
        (entry,) = outbox.claim("worker")
        assert outbox.retry(entry, "CRM unavailable")
        with sessions() as session:
            due = session.scalar(select(OutboxEntry.next_attempt_at))
        assert due is not None
        waits.append(due - clock())
        assert outbox.claim("worker") == []  # not due before its time
        clock.advance(seconds=(due - clock()).total_seconds())
    assert waits == [timedelta(seconds=5 * 2**n) for n in range(7)] + [timedelta(minutes=10)] * 2


def test_a_row_that_keeps_failing_is_dead_lettered_with_the_reason(sessions: Any) -> None:
    clock = SettableClock(START)
    spec: QueueSpec[ReceivedCommand] = QueueSpec(
        ReceivedCommand, lease=timedelta(seconds=60), waiting="received", max_attempts=3
    )
    queue = LeasedQueue(spec, sessions, clock)
    (command_id,) = _commands(sessions, 1)
    tries: list[int] = []

    def broken(rows: list[ReceivedCommand]) -> None:
        tries.append(rows[0].attempts)
        raise ZeroDivisionError("a bug")

    worker = QueueWorker(queue, broken, name="test")
    for _ in range(3):
        assert worker.run_once() == 1
        assert worker.run_once() == 0  # backing off
        clock.advance(minutes=1)
    assert tries == [1, 2, 3]
    dead = _command(sessions, command_id)
    assert (dead.status, dead.last_error) == ("failed", "unexpected error (ZeroDivisionError)")
    assert worker.run_once() == 0  # dead letters are never claimed again


@dataclass(frozen=True)
class _Said:
    text: str
    accepted: bool = False


def test_a_command_that_cannot_be_worked_out_is_apologised_for_then_dead_lettered(sessions: Any) -> None:
    clock = SettableClock(START)
    inbox = CommandInbox(sessions, clock)
    (command_id,) = _commands(sessions, 1)
    sent: list[str] = []

    def work_out(command: ReceivedCommand) -> _Said:
        raise RuntimeError("database broken")

    def send(command: ReceivedCommand, said: _Said) -> bool:
        sent.append(said.text)
        return True

    woken: list[bool] = []
    worker = command_worker(
        inbox,
        Answering(work_out, lambda command: _Said("sorry"), send),
        on_accepted=lambda: woken.append(True),
    )
    for attempt in range(1, 6):
        assert worker.run_once() == 1
        assert _command(sessions, command_id).attempts == attempt
        clock.advance(seconds=61)
    dead = _command(sessions, command_id)
    assert sent == ["sorry"]  # said once, after the fifth attempt
    assert (dead.status, dead.last_error) == ("failed", "gave up after 5 attempts (RuntimeError)")
    assert woken == []


def test_one_person_s_due_dms_are_claimed_together_once_per_run(sessions: Any) -> None:
    clock = SettableClock(START)
    rows = [
        {"slack_user": user, "text": f"{user} {n}", "send_after": START - timedelta(minutes=n)}
        for user, n in (("U1", 1), ("U2", 2), ("U1", 3), ("U2", 4), ("U1", 5))
    ]
    with sessions.begin() as session:
        session.execute(
            insert(PendingDM),
            [
                r | {"firing_id": 1, "ritual_id": "stale", "blocks": [], "status": "pending", "attempts": 0}
                for r in rows
            ],
        )
    groups: list[list[str]] = []
    queue = DMQueue(sessions, clock)

    def deliver(dms: list[PendingDM]) -> None:
        groups.append([dm.text for dm in dms])
        for dm in dms[:-1]:
            assert queue.sent(dm, "D1", "1.0")
        assert queue.later(dms[-1], clock())  # due again at once, but not in this run

    assert dm_worker(queue, deliver).run_once() == 2
    assert groups == [["U1 1", "U1 3", "U1 5"], ["U2 2", "U2 4"]]
    assert dm_worker(queue, deliver).run_once() == 2
    assert groups[2:] == [["U2 4"], ["U1 5"]]  # oldest first


@pytest.mark.postgres
def test_two_claimers_on_postgresql_never_get_the_same_row(migrated_postgres_url: str) -> None:
    engines = [create_db_engine(migrated_postgres_url) for _ in range(2)]
    try:
        makers = [session_factory(engine) for engine in engines]
        ids = _commands(makers[0], 300)
        clock = SettableClock(START)
        claimed: dict[str, list[int]] = {"a": [], "b": [], "c": [], "d": []}
        start = threading.Barrier(len(claimed))

        def claimer(name: str, sessions: Any) -> None:
            inbox = CommandInbox(sessions, clock)
            start.wait()
            while rows := inbox.claim(name, limit=3):
                claimed[name].extend(row.id for row in rows)

        threads = [
            threading.Thread(target=claimer, args=(name, makers[n % 2])) for n, name in enumerate(claimed)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        everything = [i for got in claimed.values() for i in got]
        assert sorted(everything) == ids  # every row claimed, none twice
        assert sum(1 for got in claimed.values() if got) > 1  # they really raced
        with makers[0]() as session:
            assert set(session.scalars(select(ReceivedCommand.attempts))) == {1}
    finally:
        for engine in engines:
            engine.dispose()
