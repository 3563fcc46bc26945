"""What counts as a review, read for many deals at once: snoozes, and changes made through Drumbeat."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import AuditEntry, Snooze
from rituals.kinds import SnoozeInfo

_CHUNK = 500


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
