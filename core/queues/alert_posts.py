"""Deal alerts waiting to be posted in a channel: a use of the leased queue (`core.queues.leased`).

Matching a change claims it once (`alert_matches`); the post that says so waits here, so a Slack
outage delays it instead of losing it, and only one replica posts it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from core.models import AlertPost
from core.queues.leased import LEASE, LeasedQueue, QueueSpec, QueueWorker

__all__ = ["AlertPostQueue", "alert_post_worker"]

SPEC = QueueSpec(
    AlertPost,
    lease=LEASE,
    waiting="pending",
    done="posted",
    dead="failed",
    due_at="next_attempt_at",
    first_backoff=timedelta(seconds=30),
    max_backoff=timedelta(minutes=30),
    give_up_after=10,  # a channel Slack keeps failing for hours: kept as failed, with the reason
)


class AlertPostQueue(LeasedQueue[AlertPost]):
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        super().__init__(SPEC, sessions, clock)
        self._clock = clock

    def posted(self, row: AlertPost, channel_id: str, ts: str, *, problem: str | None = None) -> bool:
        """Posted; `problem` keeps what did not go through with it (a thread reply Slack refused)."""
        values = {"posted_at": self._clock(), "channel_id": channel_id, "ts": ts, "last_error": problem}
        return self.finish(row, values)


def alert_post_worker(
    queue: AlertPostQueue, post: Callable[[list[AlertPost]], None]
) -> QueueWorker[AlertPost]:
    """`post` gets one due alert and records its outcome (posted, retry later, or failed for good)."""
    return QueueWorker(queue, post, name="alerts")
