"""Column types for aware UTC datetimes and exact money, shared by every table Drumbeat keeps.

They sit at the bottom layer so that the demo CRM's own tables and the core mirror use the same ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Numeric, TypeDecorator
from sqlalchemy.engine import Dialect

__all__ = ["NAMING_CONVENTION", "Money", "UTCDateTime", "exact_money"]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes everywhere, even on SQLite which stores no offset."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """Exact amounts in Python; NUMERIC in the database (fetched as float to avoid SQLite's warning)."""

    impl = Numeric(20, 4, asdecimal=False)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        return None if value is None else float(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else exact_money(value)


def exact_money(value: float | Decimal) -> Decimal:
    """An amount read back as a float (see `Money`), exact again: at most four decimals, at least two."""
    return Decimal(str(round(float(value), 4))).normalize() + Decimal("0.00")
