"""SQL that reads the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

__all__ = ["dialect_insert", "rowcount"]


def dialect_insert(session: Session) -> Callable[..., Any]:
    """`insert` with ON CONFLICT support for the session's database (SQLite or PostgreSQL)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE touched (0 when the driver does not say)."""
    return int(getattr(result, "rowcount", 0) or 0)
