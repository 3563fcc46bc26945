"""The one staleness rule: when a person last reviewed a deal, and what does not count as a review.

A review is activity in the CRM, the deal's creation, a field changed through Drumbeat, or a field a
person changed in the CRM itself. A snooze's own note is not one. Nudges, the digest, 1:1 prep,
App Home, `/deal` and the adoption report all read staleness from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import AuditEntry, Snooze

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class SnoozeInfo:
    until: date
    snoozed_at: datetime
    touched_before: datetime | None


class Touched(Protocol):
    """What `last_review` reads of a deal (a DealView or a mirrored row)."""

    @property
    def last_activity_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def person_changed_at(self) -> datetime | None: ...


def last_review(
    deal: Touched, snooze: SnoozeInfo | None, changed_via_drumbeat: datetime | None
) -> datetime | None:
    """When a person last touched the deal: activity, creation, a change made through Drumbeat, or a
    field a person changed in the CRM itself.

    A snooze logs a note, and HubSpot counts a note as activity; that note is not a review, so an
    activity stamped at the snooze itself is replaced by what the deal had before it.
    """
    activity = deal.last_activity_at
    if (
        snooze is not None
        and activity is not None
        and abs((activity - snooze.snoozed_at).total_seconds()) < 2
    ):
        activity = snooze.touched_before
    touches = [
        t for t in (activity, deal.created_at, changed_via_drumbeat, deal.person_changed_at) if t is not None
    ]
    return max(touches) if touches else None


def snoozes_for(session: Session, deal_ids: Sequence[str]) -> dict[str, SnoozeInfo]:
    found: dict[str, SnoozeInfo] = {}
    for start in range(0, len(deal_ids), _CHUNK):
        chunk = list(deal_ids[start : start + _CHUNK])
        for s in session.scalars(select(Snooze).where(Snooze.deal_id.in_(chunk))):
            found[s.deal_id] = SnoozeInfo(s.until, s.snoozed_at, s.touched_before)
    return found


def drumbeat_changes(session: Session, deal_ids: Sequence[str]) -> dict[str, datetime]:
    """When each deal's fields were last changed through Drumbeat (notes are activity already)."""
    found: dict[str, datetime] = {}
    for start in range(0, len(deal_ids), _CHUNK):
        chunk = list(deal_ids[start : start + _CHUNK])
        found.update(
            session.execute(
                select(AuditEntry.deal_id, func.max(AuditEntry.at))
                .where(AuditEntry.deal_id.in_(chunk), AuditEntry.field != "note")
                .group_by(AuditEntry.deal_id)
            ).all()
        )
    return found
