"""The one staleness rule: when a person last reviewed a deal, and when that makes it stale.

A review is activity in the CRM, the deal's creation, a field changed through Drumbeat, or a field a
person changed in the CRM itself. A snooze's own note is not one, and a snoozed deal is not stale
until its snooze ends. Nudges, the digest, 1:1 prep, App Home, `/deal` and the adoption report all
read staleness from here: `DealView.last_review` is worked out once, by `reviews_for`, when views
are built; the digest, which counts over the whole mirror, uses `unreviewed_since`, the same rule
written as SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple, Protocol

from sqlalchemy import ColumnElement, ScalarSelect, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.models import AuditEntry, MirrorDeal, Snooze

__all__ = [
    "Review",
    "SnoozeInfo",
    "Touched",
    "Touches",
    "drumbeat_changed_at",
    "drumbeat_changes",
    "is_stale",
    "last_review",
    "reviews_for",
    "snooze_over",
    "snoozes_for",
    "stale_cutoff",
    "unreviewed_since",
]

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class SnoozeInfo:
    until: date
    snoozed_at: datetime
    touched_before: datetime | None


@dataclass(frozen=True, slots=True)
class Review:
    """What staleness needs to know of a deal beyond the mirrored row."""

    last_review: datetime | None
    snoozed_until: date | None


class Touched(Protocol):
    """What `last_review` reads of a deal (a DealView or a mirrored row)."""

    @property
    def last_activity_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def person_changed_at(self) -> datetime | None: ...


class Touches(NamedTuple):
    """A deal's touches as plain values: a `Touched` for rows read without a view."""

    last_activity_at: datetime | None
    created_at: datetime | None
    person_changed_at: datetime | None


class _Identified(Touched, Protocol):
    @property
    def id(self) -> str: ...


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


def stale_cutoff(now: datetime, stale_after_days: int) -> datetime:
    """A deal last reviewed at or before this moment is stale (unless snoozed)."""
    return now - timedelta(days=stale_after_days)


def is_stale(
    reviewed: datetime | None,
    snoozed_until: date | None,
    *,
    now: datetime,
    today: date,
    stale_after_days: int,
) -> bool:
    """The rule: not reviewed for `stale_after_days` (or never), and not snoozed past `today` (the
    owner's own date). Open deals only: the caller leaves closed ones out."""
    if snoozed_until is not None and snoozed_until > today:
        return False
    return reviewed is None or reviewed <= stale_cutoff(now, stale_after_days)


def snooze_over(today: date) -> ColumnElement[bool]:
    """`is_stale`'s snooze test as SQL: the snooze no longer holds the deal back on `today`."""
    return Snooze.until <= today


def unreviewed_since(cutoff: datetime) -> ColumnElement[bool]:
    """`last_review(...) <= cutoff` as SQL over the mirror, for deals with no snooze (a snooze's
    note needs `last_review` itself): no activity, creation, person's change or change through
    Drumbeat after `cutoff`."""
    # An uncorrelated subquery: worked out once, not per deal.
    changed_via_drumbeat = select(AuditEntry.deal_id).where(
        AuditEntry.field != "note", AuditEntry.at > cutoff
    )
    untouched = (
        or_(column.is_(None), column <= cutoff)
        for column in (MirrorDeal.last_activity_at, MirrorDeal.created_at, MirrorDeal.person_changed_at)
    )
    return and_(*untouched, MirrorDeal.id.not_in(changed_via_drumbeat))


def reviews_for(session: Session, deals: Sequence[_Identified]) -> dict[str, Review]:
    """Each deal's last review and snooze end, by deal id, in two queries for all of them."""
    ids = [deal.id for deal in deals]
    snoozes = snoozes_for(session, ids)
    drumbeat = drumbeat_changes(session, ids)
    reviews = {}
    for deal in deals:
        snooze = snoozes.get(deal.id)
        reviews[deal.id] = Review(
            last_review(deal, snooze, drumbeat.get(deal.id)), snooze.until if snooze is not None else None
        )
    return reviews


def snoozes_for(session: Session, deal_ids: Sequence[str]) -> dict[str, SnoozeInfo]:
    found: dict[str, SnoozeInfo] = {}
    for start in range(0, len(deal_ids), _CHUNK):
        chunk = list(deal_ids[start : start + _CHUNK])
        for s in session.scalars(select(Snooze).where(Snooze.deal_id.in_(chunk))):
            found[s.deal_id] = SnoozeInfo(s.until, s.snoozed_at, s.touched_before)
    return found


def drumbeat_changed_at(deal_id: InstrumentedAttribute[str]) -> ScalarSelect[datetime]:
    """`drumbeat_changes` for the deal in the row at hand, as a correlated SQL subquery: one look-up
    on the audit log's deal index per deal, for queries driven by a few deals (snoozed ones)."""
    return (
        select(func.max(AuditEntry.at))
        .where(AuditEntry.deal_id == deal_id, AuditEntry.field != "note")
        .scalar_subquery()
    )


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
