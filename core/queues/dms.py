"""DM delivery: rituals' DMs, queued with the time each may go out, delivered one person at a time.

A use of the leased queue (`core.queues.leased`): a claim takes one person's due DMs, so they can
go out as one message. What a message looks like and when a retry may go out (quiet hours) are the
rituals' business: they hand in how to deliver a person's DMs.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from core.models import PendingDM
from core.queues.leased import LEASE, LeasedQueue, QueueSpec, QueueWorker

PER_MESSAGE = 20  # DMs claimed for one person at a time

SPEC = QueueSpec(
    PendingDM,
    lease=LEASE,
    waiting="pending",
    done="sent",
    dead="failed",
    due_at="send_after",
    group_by="slack_user",
    # Only for failures nobody expected; Slack's own refusals are retried at a time rituals choose.
    first_backoff=timedelta(minutes=5),
    max_backoff=timedelta(hours=1),
    give_up_after=10,  # Slack failing one person's DMs for hours: kept as failed, with the reason
)


class DMQueue(LeasedQueue[PendingDM]):
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        super().__init__(SPEC, sessions, clock)
        self._clock = clock

    def sent(self, row: PendingDM, channel: str, ts: str) -> bool:
        return self.finish(row, {"sent_at": self._clock(), "channel": channel, "ts": ts})

    def failed(self, row: PendingDM, reason: str) -> bool:
        """Slack will never take it (the person left, the app was removed): kept with the reason."""
        return self.dead_letter(row, reason[:500])

    def later(self, row: PendingDM, at: datetime, reason: str | None = None) -> bool:
        return self.retry(row, None if reason is None else reason[:500], at=at)


def dm_worker(queue: DMQueue, deliver: Callable[[list[PendingDM]], None]) -> QueueWorker[PendingDM]:
    """`deliver` gets one person's due DMs (oldest first) and records each one's outcome."""
    return QueueWorker(queue, deliver, name="dms", batch=PER_MESSAGE)
