"""Refuse Slack requests whose signature was already used (a replay).

Slack's own retries carry a fresh timestamp, hence a fresh signature, so they still get through.
Signatures older than the 5-minute timestamp window can never be accepted again and are forgotten.

With PostgreSQL (several replicas) the signatures seen are shared in a table. With SQLite there is
one `serve` process, so they are kept in memory: a database write before every acknowledgement
would queue requests behind SQLite's single writer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from core.models import SeenSlackRequest
from core.sql import dialect_insert

WINDOW = timedelta(minutes=5)
# Prune once in this many requests: cheap, and the table stays small.
_PRUNE_EVERY = 200


class ReplayGuard(Protocol):
    def first_use(self, signature: str, now: datetime) -> bool:
        """Record the signature; False when it had been seen before."""
        ...


def replay_guard_for(sessions: sessionmaker[Session]) -> ReplayGuard:
    bind = sessions.kw.get("bind")
    if bind is not None and bind.dialect.name == "sqlite":
        return MemoryReplayGuard()
    return DatabaseReplayGuard(sessions)


class DatabaseReplayGuard:
    """Shared by every replica through the database."""

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
            self._count += 1
            if self._count % _PRUNE_EVERY == 0:
                session.execute(delete(SeenSlackRequest).where(SeenSlackRequest.seen_at < now - 2 * WINDOW))
            return inserted is not None


class MemoryReplayGuard:
    """One process: the signatures of the last few minutes, oldest first."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, datetime] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, signature: str, now: datetime) -> bool:
        with self._lock:
            while self._seen:
                oldest, seen_at = next(iter(self._seen.items()))
                if seen_at >= now - 2 * WINDOW:
                    break
                del self._seen[oldest]
            if signature in self._seen:
                return False
            self._seen[signature] = now
            return True
