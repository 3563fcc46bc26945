"""Received `/deal` updates: stored as typed before Slack's ack (one insert), worked out right after.

Checking an update (finding the deal, permissions, values) costs milliseconds of CPU that would
otherwise sit between Slack's request and its acknowledgement. Entries are claimed with a lease,
and each one's outbox entry is keyed by the command, so a crash mid-way neither loses nor doubles it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, update
from sqlalchemy.orm import Session, sessionmaker

from core.models import ReceivedCommand
from core.queues.lease import claim_due

LEASE = timedelta(seconds=60)
STORE_TIMEOUT = 2.0  # seconds a request waits for its command to be committed (Slack allows 3)
WRITER_IDLE = 1.0  # seconds the writer thread lingers for more arrivals before it ends


def command_key(command_id: int) -> str:
    """The outbox idempotency key of the change a received command makes."""
    return f"cmd-{command_id}"


@dataclass
class _Arrival:
    values: dict[str, Any]
    stored: threading.Event = field(default_factory=threading.Event)
    command_id: int | None = None
    error: BaseException | None = None


class CommandInbox:
    """Commands arriving together are stored in one transaction (a group commit): with SQLite's
    single writer, twenty acknowledgements then wait for one commit instead of queueing for twenty."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock
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

    def claim(self, limit: int = 10) -> list[ReceivedCommand]:
        now = self._clock()
        due = (
            ReceivedCommand.status == "received",
            or_(ReceivedCommand.locked_until.is_(None), ReceivedCommand.locked_until < now),
        )
        return claim_due(
            self._sessions,
            ReceivedCommand,
            due=due,
            values={"locked_until": now + LEASE, "attempts": ReceivedCommand.attempts + 1},
            limit=limit,
        )

    def done(self, command_id: int) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(ReceivedCommand)
                .where(ReceivedCommand.id == command_id)
                .values(status="done", locked_until=None)
            )
