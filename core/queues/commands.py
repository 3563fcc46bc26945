"""Received `/deal` updates: stored as typed before Slack's ack (one insert), worked out right after.

Checking an update (finding the deal, permissions, values) costs milliseconds of CPU that would
otherwise sit between Slack's request and its acknowledgement. Commands are a leased queue
(`core.queues.leased`), and each one's outbox entry is keyed by the command, so a crash mid-way
neither loses nor doubles it. What working one out means is handed in (`Answering`, from handlers).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from core.models import ReceivedCommand
from core.queues.leased import LEASE, LeasedQueue, QueueSpec, QueueWorker

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
STORE_TIMEOUT = 2.0  # seconds a request waits for its command to be committed (Slack allows 3)
WRITER_IDLE = 1.0  # seconds the writer thread lingers for more arrivals before it ends


def command_key(command_id: int) -> str:
    """The outbox idempotency key of the change a received command makes."""
    return f"cmd-{command_id}"


def command_of_key(key: str) -> int | None:
    """The received command an outbox key names, if any: its id is the update's place in the order
    of its deal's updates (ids are given in the order requests are stored, before each ack)."""
    prefix, _, number = key.partition("-")
    return int(number) if prefix == "cmd" and number.isdigit() else None


@dataclass
class _Arrival:
    values: dict[str, Any]
    stored: threading.Event = field(default_factory=threading.Event)
    command_id: int | None = None
    error: BaseException | None = None


SPEC = QueueSpec(
    ReceivedCommand,
    lease=LEASE,
    waiting="received",
    done="done",
    dead="failed",
    # The person waits for the answer: retried soon, at most a minute apart.
    first_backoff=timedelta(seconds=5),
    max_backoff=timedelta(minutes=1),
    max_attempts=MAX_ATTEMPTS,
)


class CommandInbox(LeasedQueue[ReceivedCommand]):
    """Commands arriving together are stored in one transaction (a group commit): with SQLite's
    single writer, twenty acknowledgements then wait for one commit instead of queueing for twenty."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        *,
        on_stored: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(SPEC, sessions, clock)
        self._sessions = sessions
        self._clock = clock
        self._on_stored = on_stored  # wakes the command worker in this process
        self._arrivals: list[_Arrival] = []
        self._wakeup = threading.Condition()
        self._writing = False

    def receive(self, slack_user: str, text: str, response_url: str | None) -> int:
        """Store a command; returns once it is committed (raises if it could not be)."""
        arrival = _Arrival(
            {
                "slack_user": slack_user,
                "text": text,
                "response_url": response_url,
                "received_at": self._clock(),
                "status": "received",
                "attempts": 0,
            }
        )
        with self._wakeup:
            self._arrivals.append(arrival)
            if not self._writing:
                self._writing = True
                threading.Thread(target=self._write_arrivals, name="inbox-writer", daemon=True).start()
            self._wakeup.notify()
        if not arrival.stored.wait(timeout=STORE_TIMEOUT):
            with self._wakeup:
                if arrival in self._arrivals:  # not taken by the writer yet: withdraw it cleanly
                    self._arrivals.remove(arrival)
                    raise TimeoutError("the database did not store the command in time")
            # Already being written: its commit decides, and the answer must say what happened.
            arrival.stored.wait()
        if arrival.error is not None:
            raise arrival.error
        assert arrival.command_id is not None
        self._on_stored()
        return arrival.command_id

    def _write_arrivals(self) -> None:
        """Commit whatever has arrived, in batches, until idle for a moment."""
        while True:
            with self._wakeup:
                if not self._arrivals:
                    self._wakeup.wait(timeout=WRITER_IDLE)
                if not self._arrivals:
                    self._writing = False
                    return
                batch, self._arrivals = self._arrivals, []
            try:
                with self._sessions.begin() as session:
                    ids = session.scalars(
                        insert(ReceivedCommand).returning(ReceivedCommand.id, sort_by_parameter_order=True),
                        [arrival.values for arrival in batch],
                    ).all()
                for arrival, command_id in zip(batch, ids, strict=True):
                    arrival.command_id = command_id
            except Exception as exc:  # noqa: BLE001 - handed to each waiting request, which raises it
                for arrival in batch:
                    arrival.error = exc
            finally:
                for arrival in batch:
                    arrival.stored.set()


class Answer(Protocol):
    @property
    def accepted(self) -> bool:
        """An update was queued in the outbox."""
        ...


A = TypeVar("A", bound=Answer)


@dataclass(frozen=True)
class Answering(Generic[A]):
    """What working out a command means, from the layer that knows how (`handlers.inbox`)."""

    work_out: Callable[[ReceivedCommand], A]  # may raise: a bug or a broken database
    give_up: Callable[[ReceivedCommand], A]  # the apology once it failed `MAX_ATTEMPTS` times
    send: Callable[[ReceivedCommand, A], bool]  # False when the answer could not be delivered


def command_worker(
    inbox: CommandInbox,
    answering: Answering[A],
    *,
    on_accepted: Callable[[], None],
    between_items: Callable[[], None] = lambda: None,
    wakeup: threading.Event | None = None,
    threads: int = 1,
) -> QueueWorker[ReceivedCommand]:
    """One thread by default: checking updates must not compete with acknowledgements for the CPU."""

    def process(commands: list[ReceivedCommand]) -> None:
        for command in commands:
            _work(inbox, answering, command, on_accepted)

    return QueueWorker(
        inbox,
        process,
        name="commands",
        threads=threads,
        poll_interval=0.5,
        batch=10,
        between_items=between_items,
        wakeup=wakeup,
    )


def _work(
    inbox: CommandInbox, answering: Answering[A], command: ReceivedCommand, on_accepted: Callable[[], None]
) -> None:
    gave_up = None
    try:
        answer = answering.work_out(command)
    except Exception as exc:  # a bug or a broken database: retry a few times, then say so
        log.exception("working out /deal command %s failed (attempt %d)", command.id, command.attempts)
        if command.attempts < MAX_ATTEMPTS:
            inbox.retry(command, f"unexpected error ({type(exc).__name__})")
            return
        log.error("gave up on /deal command %s after %d attempts", command.id, command.attempts)
        gave_up = f"gave up after {command.attempts} attempts ({type(exc).__name__})"
        answer = answering.give_up(command)
    if not answering.send(command, answer):
        # The change (if any) is stored under the command's key; answering is simply tried again,
        # a bounded number of times (the outbox still applies the change and confirms it itself).
        if command.attempts >= MAX_ATTEMPTS:
            log.error("gave up answering /deal command %s after %d attempts", command.id, command.attempts)
            inbox.dead_letter(command, f"the answer could not be delivered after {command.attempts} attempts")
        else:
            inbox.retry(command, "the answer could not be delivered")
        return
    if gave_up is not None:
        inbox.dead_letter(command, gave_up)
        return
    inbox.finish(command)
    if answer.accepted:
        on_accepted()
