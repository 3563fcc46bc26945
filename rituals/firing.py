"""Firings: which scheduled time a run belongs to, and claiming it once across replicas and restarts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from core.models import RitualFiring
from core.sql import dialect_insert
from rituals.config import RitualBase, next_firings

# How far back to look for firings missed during downtime (a weekly ritual's last slot fits).
LOOKBACK = timedelta(days=8)
# A firing still `running` after this long was abandoned by a crashed process.
ABANDONED_AFTER = timedelta(minutes=15)


def slot_key(ritual: RitualBase, scheduled_for: datetime) -> str:
    """The wall-clock time in the ritual's zone: the doubled 02:30 of a DST fall-back is one firing."""
    return scheduled_for.astimezone(ritual.zone()).strftime("%Y-%m-%dT%H:%M")


def firings_between(ritual: RitualBase, start: datetime, end: datetime) -> list[datetime]:
    """Scheduled times in (start, end], oldest first."""
    found: list[datetime] = []
    cursor = start
    while True:
        batch = next_firings(ritual, cursor, count=50)
        for when in batch:
            if when > end:
                return found
            found.append(when)
        if len(batch) < 50:
            return found
        cursor = batch[-1]


@dataclass(frozen=True, slots=True)
class DueFiring:
    scheduled_for: datetime


def due_firing(ritual: RitualBase, now: datetime, last_claimed: datetime | None) -> DueFiring | None:
    """The most recent unclaimed slot, if still within the ritual's grace window; older ones are skipped."""
    start = max(last_claimed, now - LOOKBACK) if last_claimed else now - LOOKBACK
    slots = firings_between(ritual, start, now)
    if not slots:
        return None
    latest = slots[-1]
    if now - latest > timedelta(minutes=ritual.grace_minutes):
        return None
    return DueFiring(scheduled_for=latest)


def missed_outside_grace(ritual: RitualBase, now: datetime, last_claimed: datetime | None) -> list[datetime]:
    start = max(last_claimed, now - LOOKBACK) if last_claimed else now - LOOKBACK
    return [
        s for s in firings_between(ritual, start, now) if now - s > timedelta(minutes=ritual.grace_minutes)
    ]


def last_claimed(session: Session, ritual_id: str) -> datetime | None:
    return session.scalar(
        select(RitualFiring.scheduled_for)
        .where(RitualFiring.ritual_id == ritual_id)
        .order_by(RitualFiring.scheduled_for.desc())
        .limit(1)
    )


def claim(
    session: Session,
    ritual: RitualBase,
    scheduled_for: datetime,
    *,
    claimed_by: str,
    now: datetime,
    status: str = "running",
) -> int | None:
    """Insert the firing; None when another run (replica, restart, earlier `run`) already has it."""
    insert = dialect_insert(session)
    firing_id: int | None = session.scalar(
        insert(RitualFiring)
        .values(
            ritual_id=ritual.id,
            scheduled_local=slot_key(ritual, scheduled_for),
            scheduled_for=scheduled_for.astimezone(UTC),
            claimed_at=now,
            claimed_by=claimed_by,
            status=status,
        )
        .on_conflict_do_nothing(index_elements=["ritual_id", "scheduled_local"])
        .returning(RitualFiring.id)
    )
    if firing_id is None:
        firing_id = _take_over_abandoned(session, ritual, scheduled_for, claimed_by=claimed_by, now=now)
    return firing_id


def _take_over_abandoned(
    session: Session, ritual: RitualBase, scheduled_for: datetime, *, claimed_by: str, now: datetime
) -> int | None:
    """A firing left `running` long ago was cut short by a crash, and a `failed` one (a report its
    channel refused) waits for a run after the fix: run it again. Planning is idempotent (each
    nudge is recorded once), so what it had already queued is not queued twice."""
    taken: int | None = session.scalar(
        update(RitualFiring)
        .where(
            RitualFiring.ritual_id == ritual.id,
            RitualFiring.scheduled_local == slot_key(ritual, scheduled_for),
            or_(
                and_(RitualFiring.status == "running", RitualFiring.claimed_at < now - ABANDONED_AFTER),
                RitualFiring.status == "failed",
            ),
        )
        .values(claimed_at=now, claimed_by=claimed_by, status="running")
        .returning(RitualFiring.id)
    )
    return taken


def finish(session: Session, firing_id: int, *, status: str, summary: str, now: datetime) -> None:
    session.execute(
        update(RitualFiring)
        .where(RitualFiring.id == firing_id)
        .values(status=status, summary=summary[:2000], finished_at=now)
    )
