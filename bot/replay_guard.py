"""Refuse Slack requests whose signature was already used (a replay), across all replicas.

Each accepted signature is stored; a second request with the same signature is a replay. Slack's
own retries carry a fresh timestamp, hence a fresh signature, so they still get through. Rows older
than the 5-minute timestamp window can never match again and are pruned.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from bot.db import dialect_insert
from bot.models import SeenSlackRequest

WINDOW = timedelta(minutes=5)
# Prune once in this many requests: cheap, and the table stays small.
_PRUNE_EVERY = 200


class ReplayGuard:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._count = 0

    def first_use(self, signature: str, now: datetime) -> bool:
        """Record the signature; False when it had been seen before."""
        with self._sessions.begin() as session:
            insert = dialect_insert(session)
            inserted = session.scalar(
                insert(SeenSlackRequest)
                .values(signature=signature, seen_at=now)
                .on_conflict_do_nothing(index_elements=["signature"])
                .returning(SeenSlackRequest.signature)
            )
            fresh = inserted is not None
            self._count += 1
            if self._count % _PRUNE_EVERY == 0:
                session.execute(delete(SeenSlackRequest).where(SeenSlackRequest.seen_at < now - 2 * WINDOW))
            return fresh
