"""Claiming due rows with a lease: the queue pattern the outbox, the command inbox and DMs share.

`FOR UPDATE SKIP LOCKED` keeps PostgreSQL replicas off each other's rows; the UPDATE re-checks the
due conditions, since SQLite ignores FOR UPDATE and two claimers may select the same rows there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

Row = TypeVar("Row")


def claim_due(
    sessions: sessionmaker[Session],
    model: type[Row],
    *,
    due: Sequence[ColumnElement[bool]],
    values: dict[str, Any],
    limit: int,
) -> list[Row]:
    """Mark up to `limit` due rows as claimed (`values` sets the lease) and return them, oldest first."""
    ident: Any = model.id  # type: ignore[attr-defined]
    with sessions.begin() as session:
        candidates = session.scalars(
            select(ident).where(*due).order_by(ident).limit(limit).with_for_update(skip_locked=True)
        ).all()
        if not candidates:
            return []
        claimed = session.scalars(
            update(model).where(ident.in_(candidates), *due).values(**values).returning(ident)
        ).all()
        if not claimed:
            return []
        return list(session.scalars(select(model).where(ident.in_(claimed)).order_by(ident)))
