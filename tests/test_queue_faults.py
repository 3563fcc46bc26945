"""Issue #12, the queues' part: the last value wins whatever replica or crash delays an update, a dead
worker's claims are taken over within about 30 s, and one bad item never holds up the others."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from bot.status import DeadLetters, gather_status
from core.models import OutboxEntry, ReceivedCommand
from core.queues import alert_posts, dms
from core.queues.leased import LEASE, LeasedQueue, QueueSpec, QueueWorker
from core.queues.outbox import ChangeRequest, Outbox, enqueue
from tests.cli import DRUMBEAT
from tests.conftest import BOT_TOKEN, HUBSPOT_TOKEN, SIGNING_SECRET, RunningApp, stop_app
from tests.deal_scenario import SettableClock, outbox_rows, seed, start_drumbeat, wait_until
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.hubspot_helpers import DEAL_BATCH_UPDATE as WRITE, deal_writes
from tests.slack_signing import SlackRequests

# Passes the edge's shape check (a scheme and a host) but no HTTP client can send to it.
UNUSABLE_URL = "http://127.0.0.1:notaport/response"


def _flat(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


def _received(app: RunningApp) -> list[ReceivedCommand]:
    with app.services.sessions() as session:
        return list(session.scalars(select(ReceivedCommand).order_by(ReceivedCommand.id)))


def _work_out(app: RunningApp, command_id: int) -> None:
    """This replica's command worker claims and works out one command, as its loop would."""
    commands = app.runtime.commands
    (command,) = commands.queue.claim(commands.holder, where=[ReceivedCommand.id == command_id])
    commands.process([command])


def test_an_older_update_worked_out_later_on_another_replica_does_not_win(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    """Defect 1: A is received first (replica one), B a moment later (replica two); B is worked out
    and applied first. A's amount must not overwrite B's; A's other field still applies."""
    team = seed(fake_hubspot, fake_slack)
    clock = SettableClock()
    one = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=clock, worker=False)
    two = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=clock, worker=False)
    try:
        first_url, second_url = fake_slack.response_url(), fake_slack.response_url()
        older = one.slack.slash_command(
            'acme corp amount=850001 next="Call the CFO"', user_id="U0ALICE", response_url=first_url
        )
        newer = two.slack.slash_command("acme corp amount=850002", user_id="U0ALICE", response_url=second_url)
        assert "Working on it" in older.text and "Working on it" in newer.text
        a, b = (command.id for command in _received(one))

        _work_out(two, b)  # replica one is busy: the newer update is worked out and applied first
        assert two.runtime.worker.run_once() == 1
        assert fake_hubspot.deals[team.acme]["properties"]["amount"] == "850002"
        _work_out(one, a)  # ...then the older one
        assert one.runtime.worker.run_once() == 1

        properties = fake_hubspot.deals[team.acme]["properties"]
        assert properties["amount"] == "850002"  # the last value the person sent
        assert properties["hs_next_step"] == "Call the CFO"  # per field: A's other change applies
        older_entry, newer_entry = sorted(outbox_rows(one), key=lambda e: e.received_order)
        assert older_entry.idempotency_key == f"cmd-{a}"
        assert (older_entry.status, newer_entry.status) == ("done", "done")
        assert older_entry.last_error == "superseded by a later update: amount"
        saved = fake_slack.wait_for_responses(first_url, 2)[-1]
        assert "Call the CFO" in _flat(saved) and "850,001" not in _flat(saved)
    finally:
        stop_app(one)
        stop_app(two)


def test_an_update_whose_command_was_held_by_a_killed_worker_is_superseded_when_it_comes_back(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    """Defect 1 after a crash: the worker holding the older command dies (it is never worked out
    there); the newer goes through; when the lease runs out, the older is recorded as superseded and
    its person hears that, not "Saved"."""
    team = seed(fake_hubspot, fake_slack)
    clock = SettableClock()
    app = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=clock, worker=False)
    try:
        first_url, second_url = fake_slack.response_url(), fake_slack.response_url()
        app.slack.slash_command("acme corp amount=850001", user_id="U0ALICE", response_url=first_url)
        app.slack.slash_command("acme corp amount=850002", user_id="U0ALICE", response_url=second_url)
        a, b = (command.id for command in _received(app))
        killed = app.runtime.commands.queue.claim("killed-worker", where=[ReceivedCommand.id == a])
        assert [c.id for c in killed] == [a]  # claimed, then SIGKILL: never worked out, never renewed

        _work_out(app, b)
        assert app.runtime.worker.run_once() == 1
        clock.advance(seconds=31)  # the dead worker's lease runs out
        assert app.runtime.commands.run_once() == 1
        assert app.runtime.worker.run_once() == 1

        assert fake_hubspot.deals[team.acme]["properties"]["amount"] == "850002"
        statuses = {e.idempotency_key: (e.status, e.last_error) for e in outbox_rows(app)}
        assert statuses[f"cmd-{a}"] == ("superseded", "a later update of this deal was saved first (amount)")
        told = _flat(fake_slack.wait_for_responses(first_url, 2)[-1])
        assert "was not applied" in told and "Saved" not in told
    finally:
        stop_app(app)


def test_a_dead_workers_claim_is_taken_over_after_30_seconds_and_its_person_told_it_is_queued(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    """Defect 2: a worker claims an outbox entry and dies. Another replica takes it over once 30 s
    have passed (not 10 minutes), and the person hears once, at 30 s, that the update is queued."""
    team = seed(fake_hubspot, fake_slack)
    clock = SettableClock()
    app = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=clock, worker=False)
    try:
        url = fake_slack.response_url()
        app.slack.slash_command("acme corp amount=9100", user_id="U0ALICE", response_url=url)
        _work_out(app, _received(app)[0].id)
        outbox = app.runtime.worker.queue
        assert len(outbox.claim("killed-worker")) == 1  # ...SIGKILL: no heartbeat renews it
        worker = app.runtime.worker
        clock.advance(seconds=29)
        assert worker.run_once() == 0  # the lease still holds
        clock.advance(seconds=2)  # 31 s after the claim
        assert isinstance(outbox, Outbox)
        assert [e.id for e in outbox.take_delayed()] == [outbox_rows(app)[0].id]  # told once...
        assert outbox.take_delayed() == []  # ...only once
        assert worker.run_once() == 1
        assert fake_hubspot.deals[team.acme]["properties"]["amount"] == "9100"
        (entry,) = outbox_rows(app)
        assert (entry.status, entry.attempts, entry.locked_by) == ("done", 2, worker.holder)
    finally:
        stop_app(app)


def test_the_queued_notice_goes_out_once_from_the_running_worker(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    seed(fake_hubspot, fake_slack)
    clock = SettableClock()
    app = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=clock, worker=False)
    try:
        url = fake_slack.response_url()
        app.slack.slash_command("acme corp amount=9200", user_id="U0ALICE", response_url=url)
        _work_out(app, _received(app)[0].id)
        app.runtime.worker.queue.claim("killed-worker")
        clock.advance(seconds=31)
        status = gather_status(
            app.services.sessions,
            app.services.rituals,
            crm=app.services.crm,
            crm_label="HubSpot",
            slack_problem=None,
            now=clock(),
        )
        outbox = status.queues[0]
        assert (
            outbox.waiting,
            outbox.oldest_age is not None and outbox.oldest_age.total_seconds() >= 31,
        ) == (
            1,
            True,
        )
        app.runtime.start_workers()
        wait_until(lambda: any("Saved" in _flat(r) for r in fake_slack.responses(url)), what="saved")
        assert sum("queued" in _flat(r) for r in fake_slack.responses(url)) == 1
    finally:
        stop_app(app)


def test_a_live_worker_renews_its_claim_so_no_one_takes_it_over(
    sessions: Any, fake_hubspot: FakeHubSpot
) -> None:
    """Defect 2, the other side: a worker busy for longer than the lease keeps its row."""
    clock = SettableClock()
    outbox = Outbox(sessions, clock)
    with sessions.begin() as session:
        enqueue(
            session,
            ChangeRequest("d1", "Acme", {"amount": "1"}, {}, None, "U0ALICE", "slash"),
            now=clock(),
        )
    busy, release, renewed = threading.Event(), threading.Event(), threading.Event()

    def slow(rows: list[OutboxEntry]) -> None:
        busy.set()
        release.wait(10)
        outbox.finish(rows[0])

    worker = QueueWorker(outbox, slow, name="slow", heartbeat=0.05)
    runner = threading.Thread(target=worker.run_once)
    runner.start()
    try:
        assert busy.wait(5)
        for _ in range(3):  # 60 s in all, twice the lease, renewed as it goes
            clock.advance(seconds=20)

            def lease_ahead() -> bool:
                with sessions() as session:
                    until = session.scalar(select(OutboxEntry.locked_until))
                return until is not None and until > clock()

            renewed.clear()
            wait_until(lease_ahead, what="a renewed lease")
            assert outbox.claim("another-replica") == []
    finally:
        release.set()
        runner.join(10)
    with sessions() as session:
        assert session.scalar(select(OutboxEntry.status)) == "done"


def test_a_bad_response_url_holds_up_no_one_and_its_person_gets_a_dm(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    """Defect 4: three commands claimed in one batch; one's response_url cannot be used, one's refuses
    connections. The third is answered as usual, and the other two people get their answer by DM."""
    team = seed(fake_hubspot, fake_slack)
    app = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=SettableClock(), worker=False)
    try:
        with SocketClosedPort() as refused:
            good = fake_slack.response_url()
            app.slack.slash_command("acme corp amount=7001", user_id="U0ALICE", response_url=UNUSABLE_URL)
            app.slack.slash_command("acme corp next=Demo", user_id="U0ALICE", response_url=refused)
            app.slack.slash_command("acme corp close=2031-01-15", user_id="U0ALICE", response_url=good)
            fake_slack.clear_calls()
            assert app.runtime.commands.run_once() == 3
        assert [c.status for c in _received(app)] == ["done", "done", "done"]
        assert "Saving to HubSpot" in _flat(fake_slack.wait_for_responses(good, 1)[0])
        dms = [
            c for c in fake_slack.calls_to("chat.postMessage") if c.decoded_params.get("channel") == "U0ALICE"
        ]
        assert len(dms) == 2
        assert app.runtime.worker.run_once() == 3
        assert fake_hubspot.deals[team.acme]["properties"]["amount"] == "7001"
    finally:
        stop_app(app)


def test_an_answer_that_can_never_be_delivered_is_dead_lettered_and_counted(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    seed(fake_hubspot, fake_slack)
    clock = SettableClock()
    app = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=clock, worker=False)
    try:
        app.slack.slash_command("acme corp amount=7002", user_id="U0ALICE", response_url=UNUSABLE_URL)
        fake_slack.fail("chat.postMessage", "account_inactive", times=100)
        for _ in range(5):
            assert app.runtime.commands.run_once() == 1
            clock.advance(minutes=2)  # past the backoff
        assert app.runtime.commands.run_once() == 0
        (command,) = _received(app)
        assert (command.status, command.attempts) == ("failed", 5)
        assert command.last_error == "the answer could not be delivered after 5 attempts"
        status = gather_status(
            app.services.sessions,
            app.services.rituals,
            crm=app.services.crm,
            crm_label="HubSpot",
            slack_problem=None,
            now=clock(),
        )
        commands = status.queues[1]
        assert (commands.failed, commands.last_failure) == (1, command.last_error)
        metrics = {
            sample.labels["queue"]: sample.value
            for family in DeadLetters(app.services.sessions).collect()
            for sample in family.samples
        }
        assert metrics["/deal commands"] == 1
        body = httpx.get(f"{app.url}/metrics").text
        assert 'drumbeat_queue_dead_letters{queue="/deal commands"} 1.0' in body
    finally:
        stop_app(app)


class SocketClosedPort:
    """A local URL that refuses connections: a port bound, then closed."""

    def __enter__(self) -> str:
        return f"http://127.0.0.1:{_free_port()}/hooks/refused"

    def __exit__(self, *exc_info: object) -> None:
        return None


@pytest.mark.postgres
def test_a_sigkilled_serve_has_its_claim_taken_over_by_the_other_replica_within_about_30_seconds(
    migrated_postgres_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, tmp_path: Path
) -> None:
    """Defect 2, for real: `drumbeat serve` is SIGKILLed while its CRM write is in flight; the other
    replica writes the update again within about 30 s of the kill (it waited 10 minutes before)."""
    team = seed(fake_hubspot, fake_slack)
    survivor = start_drumbeat(
        migrated_postgres_url, fake_slack, fake_hubspot, clock=SettableClock(), worker=False
    )
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": migrated_postgres_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "CRM": "hubspot",
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
        "HUBSPOT_API_URL": fake_hubspot.url,
        "LOG_FORMAT": "json",
    }
    doomed = subprocess.Popen(
        [DRUMBEAT, "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _listening(url), timeout=30, what="serve listening")
        fake_hubspot.reset_requests()
        fake_hubspot.latency = 20.0  # the doomed replica's batch update hangs...
        with SlackRequests(url, SIGNING_SECRET) as slack:
            ack = slack.slash_command(
                "acme corp amount=9300", user_id="U0ALICE", response_url=fake_slack.response_url()
            )
        assert "Working on it" in ack.text
        wait_until(
            lambda: fake_hubspot.request_count(path_contains=WRITE) == 1, timeout=30, what="the write sent"
        )
        (claimed,) = outbox_rows(survivor)
        assert claimed.status == "pending" and claimed.locked_until is not None
        doomed.send_signal(signal.SIGKILL)  # ...and the replica dies with it in flight
        doomed.wait(10)
        killed_at = time.monotonic()
        fake_hubspot.latency = 0.0
        survivor.runtime.start_workers()
        wait_until(
            lambda: fake_hubspot.request_count(path_contains=WRITE) == 2, timeout=60, what="the takeover"
        )
        takeover = time.monotonic() - killed_at
        print(f"takeover {takeover:.1f}s after the SIGKILL")
        assert takeover < 40
        wait_until(lambda: outbox_rows(survivor)[0].status == "done", timeout=10, what="done")
        assert fake_hubspot.deals[team.acme]["properties"]["amount"] == "9300"
    finally:
        fake_hubspot.latency = 0.0
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait(10)
        stop_app(survivor)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz").status_code in (200, 503)
    except httpx.TransportError:
        return False


def test_a_worker_logs_a_database_outage_once_per_backoff_step(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Defect 8, the workers' part: a database that cannot be reached is logged with a traceback
    once, then one line per backoff step (1 s, 2 s, 4 s...), not on every poll."""
    unreachable = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'drumbeat.db'}")
    clock = SettableClock()
    worker = QueueWorker(
        Outbox(sessionmaker(unreachable), clock), lambda rows: None, name="outbox", poll_interval=0.01
    )
    with caplog.at_level(logging.INFO, logger="core.queues.leased"):
        worker.start()
        time.sleep(3.5)
        worker.stop()
    records = [r for r in caplog.records if r.name == "core.queues.leased"]
    assert 2 <= len(records) <= 3, [r.getMessage() for r in records]  # at 0 s, 1 s and 3 s
    assert records[0].exc_info is not None and all(r.exc_info is None for r in records[1:])
    assert "still failing (OperationalError); retrying in 2s" in records[1].getMessage()
    unreachable.dispose()


def test_a_failure_retried_past_its_queues_limit_is_dead_lettered_with_the_reason(sessions: Any) -> None:
    """Defect 4: bounded attempts (DMs and alert posts give up after 10; here a queue giving up after 2)."""
    clock = SettableClock()
    queue = LeasedQueue(
        QueueSpec(OutboxEntry, lease=LEASE, dead="rejected", due_at="next_attempt_at", give_up_after=2),
        sessions,
        clock,
    )
    with sessions.begin() as session:
        enqueue(
            session, ChangeRequest("d1", "Acme", {"amount": "1"}, {}, None, "U0ALICE", "slash"), now=clock()
        )
    (row,) = queue.claim("w")
    assert queue.retry(row, "Slack said ratelimited")
    clock.advance(minutes=1)
    (row,) = queue.claim("w")
    assert queue.retry(row, "Slack said ratelimited")
    with sessions() as session:
        entry = session.scalars(select(OutboxEntry)).one()
    assert (entry.status, entry.last_error) == (
        "rejected",
        "gave up after 2 attempts: Slack said ratelimited",
    )
    assert dms.SPEC.give_up_after == alert_posts.SPEC.give_up_after == 10


@pytest.mark.postgres
def test_fault_run_two_replicas_one_slow_the_last_update_of_each_deal_wins(
    migrated_postgres_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    """Defect 1 as a fault run: 4 deals, 12 updates each, sent alternately to two replicas; the
    first replica claims its commands but works them out only after the second applied all of its
    own, and the CRM
    answers some batch updates 500 or 429. Every deal must end on the last amount sent, and no deal may
    be written an amount older than one it was written before."""
    seed(fake_hubspot, fake_slack)
    deals = [
        fake_hubspot.add_deal(
            dealname=f"Fault {name}", pipeline="default", dealstage="qualifiedtobuy", hubspot_owner_id="101"
        )
        for name in ("alpha", "bravo", "charlie", "delta")
    ]
    clock = SettableClock()
    slow = start_drumbeat(migrated_postgres_url, fake_slack, fake_hubspot, clock=clock, worker=False)
    fast = start_drumbeat(migrated_postgres_url, fake_slack, fake_hubspot, clock=clock, worker=False)
    sent: dict[str, list[int]] = {deal_id: [] for deal_id in deals}
    try:
        fake_hubspot.reset_requests()
        fake_hubspot.fail_next(6, status=500, path_contains=WRITE)
        fake_hubspot.fail_next(4, status=429, path_contains=WRITE)
        acked = 0
        for step in range(12):
            for name, deal_id in zip(("alpha", "bravo", "charlie", "delta"), deals, strict=True):
                amount = 100_000 + step * 10 + len(sent[deal_id])
                replica = slow if step % 2 == 0 else fast
                ack = replica.slack.slash_command(
                    f"fault {name} amount={amount}", user_id="U0ALICE", response_url=fake_slack.response_url()
                )
                acked += "Working on it" in ack.text
                sent[deal_id].append(amount)
        # The slow replica has claimed the commands it received, and is busy (slow response_urls).
        held = [c.id for i, c in enumerate(_received(slow)) if (i // 4) % 2 == 0]  # even steps
        slow_commands = slow.runtime.commands
        claimed = slow_commands.queue.claim(
            slow_commands.holder, limit=100, where=[ReceivedCommand.id.in_(held)]
        )
        assert len(claimed) == 24
        fast.runtime.start_workers()
        wait_until(lambda: len(outbox_rows(fast)) == 24, timeout=60, what="the fast replica's updates queued")
        wait_until(
            lambda: all(e.status != "pending" for e in outbox_rows(fast)),
            timeout=60,
            what="the fast ones applied",
        )
        for command in claimed:  # the slow replica catches up: its (older) updates come last
            slow_commands.process([command])
        slow.runtime.start_workers()
        wait_until(lambda: len(outbox_rows(fast)) == 48, timeout=60, what="all queued")
        wait_until(lambda: all(e.status != "pending" for e in outbox_rows(fast)), timeout=90, what="all done")

        written: dict[str, list[int]] = {deal_id: [] for deal_id in deals}
        for deal_id, properties in deal_writes(fake_hubspot):
            if deal_id in written:
                written[deal_id].append(int(properties["amount"]))
        out_of_order = 0
        for deal_id, amounts in written.items():
            place = [sent[deal_id].index(a) for a in amounts]
            out_of_order += sum(1 for i in range(1, len(place)) if place[i] < max(place[:i]))
        final = {d: int(fake_hubspot.deals[d]["properties"]["amount"]) for d in deals}
        statuses = [e.status for e in outbox_rows(fast)]
        print(
            f"sent 48, acked {acked}, applied {statuses.count('done')}, superseded "
            f"{statuses.count('superseded')}, deal writes {sum(map(len, written.values()))}, "
            f"out of order {out_of_order}, lost {sum(final[d] != sent[d][-1] for d in deals)}"
        )
        assert acked == 48
        assert final == {d: sent[d][-1] for d in deals}
        assert out_of_order == 0
        assert statuses.count("rejected") == 0
    finally:
        stop_app(slow)
        stop_app(fast)
