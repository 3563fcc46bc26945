"""Received `/deal` updates: stored as typed before Slack's ack (one insert), worked out right after.

Checking an update (finding the deal, permissions, values) costs milliseconds of CPU that would
otherwise sit between Slack's request and its acknowledgement. Entries are claimed with a lease,
and each one's outbox entry is keyed by the command, so a crash mid-way neither loses nor doubles it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import insert, or_, update
from sqlalchemy.orm import Session, sessionmaker

from bot.leases import claim_due
from bot.models import ReceivedCommand

LEASE = timedelta(seconds=60)


def command_key(command_id: int) -> str:
    """The outbox idempotency key of the change a received command makes."""
    return f"cmd-{command_id}"


class CommandInbox:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def receive(self, slack_user: str, text: str, response_url: str | None) -> int:
        with self._sessions.begin() as session:
            command_id: int = session.execute(
                insert(ReceivedCommand)
                .values(
                    slack_user=slack_user,
                    text=text,
                    response_url=response_url,
                    received_at=self._clock(),
                    status="received",
                    attempts=0,
                )
                .returning(ReceivedCommand.id)
            ).scalar_one()
        return command_id

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
