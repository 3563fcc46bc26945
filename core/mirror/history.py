"""Pipeline snapshots, kept as the history of each deal's tracked state.

Every sync (and every change Drumbeat writes) compares the deals it just read with their current
history row and, when stage, amount, close date, owner, pipeline or closed/won status moved, closes
that row and opens a new one. So the state of every deal at any moment of the retention window is
one indexed look-up away, which is what a daily snapshot would give, at the cost of one row per
change instead of one row per deal per day.

The current row of a deal always equals the mirror (both are written in one transaction), so the
deals that changed since a moment are exactly those with a row that started after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, func, literal, select, true, update
from sqlalchemy.orm import Session

from core.models import DealHistory, MirrorDeal
from core.sql import dialect_insert
from integrations.base import Deal
from integrations.sqltypes import UTCDateTime

__all__ = [
    "DealState",
    "close_date_pushes",
    "end_history",
    "history_start",
    "prune_history",
    "record_states",
    "states_at",
]

_CHUNK = 500
_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class DealState:
    """What a snapshot keeps of a deal."""

    deal_id: str
    pipeline_id: str
    stage_id: str
    amount: Decimal | None
    currency: str | None
    close_date: date | None
    owner_id: str | None
    is_closed: bool
    is_won: bool

    def same_as(self, other: DealState) -> bool:
        return _comparable(self) == _comparable(other)


def _comparable(state: DealState) -> tuple[object, ...]:
    # Amounts are stored to 4 decimal places: compare them that way, or every sync would differ.
    amount = None if state.amount is None else round(state.amount, 4)
    return (
        state.pipeline_id,
        state.stage_id,
        amount,
        state.currency,
        state.close_date,
        state.owner_id,
        state.is_closed,
        state.is_won,
    )


_TRACKED = ("pipeline_id", "stage_id", "amount", "currency", "close_date", "owner_id", "is_closed", "is_won")
"""DealState's fields after the id: the same names on a Deal, a history row and the state."""


def state_of(deal: Deal) -> DealState:
    return _state(deal.id, deal)


def _state_of_row(row: DealHistory) -> DealState:
    return _state(row.deal_id, row)


def _state(deal_id: str, source: object) -> DealState:
    return DealState(deal_id, *(getattr(source, name) for name in _TRACKED))


def record_states(session: Session, deals: Sequence[Deal], now: datetime) -> int:
    """Open a history row for each deal whose tracked state changed (or that is new); returns how many.

    Safe when two replicas sync the same deals at once: a row is closed only if it is still current,
    and a second current row for a deal is never inserted (the partial unique index wins).
    """
    if not deals:
        return 0
    current = {
        row.deal_id: row
        for row in session.scalars(
            select(DealHistory).where(
                DealHistory.deal_id.in_([d.id for d in deals]), DealHistory.valid_to.is_(None)
            )
        )
    }
    fresh: list[dict[str, object]] = []
    for deal in deals:
        state = state_of(deal)
        row = current.get(deal.id)
        if row is not None and _state_of_row(row).same_as(state):
            continue
        at = now
        if row is not None:
            # Time only moves on: a clock set back (`drumbeat run --now` in the past) or a second
            # change at the same instant starts the new state just after the old, never over it.
            at = max(now, row.valid_from + _INSTANT)
            session.execute(
                update(DealHistory)
                .where(DealHistory.id == row.id, DealHistory.valid_to.is_(None))
                .values(valid_to=at)
            )
        fresh.append({"deal_id": deal.id, "valid_from": at, "valid_to": None, **_values(state)})
    if fresh:
        insert = dialect_insert(session)
        session.execute(
            insert(DealHistory).on_conflict_do_nothing(
                index_elements=["deal_id"], index_where=DealHistory.valid_to.is_(None)
            ),
            fresh,
        )
    return len(fresh)


def _values(state: DealState) -> dict[str, object]:
    return {name: getattr(state, name) for name in _TRACKED}


def end_history(session: Session, deal_ids: Iterable[str], now: datetime) -> None:
    """Deals gone from the CRM (deleted, archived): their current row ends now."""
    ids = list(deal_ids)
    for start in range(0, len(ids), _CHUNK):
        session.execute(
            update(DealHistory)
            .where(DealHistory.deal_id.in_(ids[start : start + _CHUNK]), DealHistory.valid_to.is_(None))
            .values(valid_to=now)
        )


def prune_history(session: Session, *, now: datetime, retention: timedelta) -> int:
    """Forget states that ended more than `retention` ago; current rows stay.

    A clock set in the future (`drumbeat run --now 2027-…`) must not make real history look old:
    the wall clock bounds what may be forgotten (read only here: a delete is not undone).
    """
    cutoff = min(now, datetime.now(UTC)) - retention
    result = session.execute(delete(DealHistory).where(DealHistory.valid_to < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def start_from_mirror(session: Session, now: datetime) -> int:
    """A mirror filled before the history existed (an upgrade): record every mirrored deal as it
    is now, once, so that a deal changed later is a change, not a new deal."""
    if session.scalar(select(DealHistory.id).limit(1)) is not None:
        return 0
    columns = [MirrorDeal.id, *(getattr(MirrorDeal, name) for name in _TRACKED)]
    insert = dialect_insert(session)
    result = session.execute(
        insert(DealHistory)
        .from_select(
            ["deal_id", *_TRACKED, "valid_from"],
            # WHERE true: SQLite's parser needs it between INSERT … SELECT and ON CONFLICT.
            select(*columns, literal(now, UTCDateTime)).where(true()),
        )
        .on_conflict_do_nothing(index_elements=["deal_id"], index_where=DealHistory.valid_to.is_(None))
    )
    return int(getattr(result, "rowcount", 0) or 0)


def history_start(session: Session, *, now: datetime, retention: timedelta | None = None) -> datetime | None:
    """The earliest moment the history knows every deal at: its first sync, or the edge of the
    retention window when that is later (None before the first sync)."""
    start: datetime | None = session.scalar(select(func.min(DealHistory.valid_from)))
    if start is None or retention is None:
        return start
    return max(start, now - retention)


def states_at(
    session: Session, moment: datetime, deal_ids: Iterable[str] | None = None
) -> dict[str, DealState]:
    """Each deal's state at `moment` (deals unknown then are left out).

    Without `deal_ids`, only the deals that changed since `moment` are returned: the others are
    as the mirror has them now.
    """
    valid_then = [DealHistory.valid_from <= moment]
    if deal_ids is None:
        # A row valid then that has since ended: exactly the changed deals' earlier state.
        valid_then.append(DealHistory.valid_to > moment)
        return {
            row.deal_id: _state_of_row(row) for row in session.scalars(select(DealHistory).where(*valid_then))
        }
    found: dict[str, DealState] = {}
    ids = list(deal_ids)
    for start in range(0, len(ids), _CHUNK):
        rows = session.scalars(
            select(DealHistory).where(
                *valid_then,
                DealHistory.deal_id.in_(ids[start : start + _CHUNK]),
                (DealHistory.valid_to.is_(None)) | (DealHistory.valid_to > moment),
            )
        )
        found.update((row.deal_id, _state_of_row(row)) for row in rows)
    return found


def close_date_pushes(session: Session, deal_ids: Iterable[str], since: datetime) -> dict[str, int]:
    """How often each deal's close date was moved later after `since` (deals never pushed left out)."""
    ids = list(deal_ids)
    pushes: dict[str, int] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(DealHistory.deal_id, DealHistory.valid_from, DealHistory.close_date)
            .where(DealHistory.deal_id.in_(ids[start : start + _CHUNK]))
            .order_by(DealHistory.deal_id, DealHistory.valid_from)
        ).all()
        previous: dict[str, date | None] = {}
        for deal_id, valid_from, close_date in rows:
            before = previous.get(deal_id)
            if (
                deal_id in previous
                and before is not None
                and close_date is not None
                and close_date > before
                and valid_from > since
            ):
                pushes[deal_id] = pushes.get(deal_id, 0) + 1
            previous[deal_id] = close_date
    return pushes
