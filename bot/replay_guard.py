"""Refuse Slack requests whose signature was already used (a replay).

Slack's own retries carry a fresh timestamp, hence a fresh signature, so they still get through.
Signatures older than the 5-minute timestamp window can never be accepted again and are forgotten.

The signatures seen are kept in a table on SQLite and PostgreSQL alike, so a replay is refused by
every replica and after a restart too (memory would forget them the moment `serve` restarts, while
the 5-minute window is still open). On SQLite this is one small write before each acknowledgement.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from core.models import SeenSlackRequest
from core.sql import dialect_insert

WINDOW = timedelta(minutes=5)
# Prune once in this many requests (and on a fresh start): cheap, and the table stays small.
_PRUNE_EVERY = 200


class ReplayGuard(Protocol):
    def first_use(self, signature: str, now: datetime) -> bool:
        """Record the signature; False when it had been seen before."""
        ...


def replay_guard_for(sessions: sessionmaker[Session]) -> ReplayGuard:
    return DatabaseReplayGuard(sessions)


class DatabaseReplayGuard:
    """Shared by every replica, and kept across restarts, through the database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._count = 0

    def first_use(self, signature: str, now: datetime) -> bool:
        with self._sessions.begin() as session:
            insert = dialect_insert(session)
            inserted = session.scalar(
                insert(SeenSlackRequest)
                .values(signature=signature, seen_at=now)
                .on_conflict_do_nothing(index_elements=["signature"])
                .returning(SeenSlackRequest.signature)
            )
            if self._count % _PRUNE_EVERY == 0:
                session.execute(delete(SeenSlackRequest).where(SeenSlackRequest.seen_at < now - 2 * WINDOW))
            self._count += 1
            return inserted is not None
