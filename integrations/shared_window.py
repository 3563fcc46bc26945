"""One window of CRM calls for every replica on the same database, so together they keep the share.

Each call takes a slot in a transaction that first locks its bucket's row, so replicas take slots one
at a time; the slot's time is read after the lock, so the times stored only ever grow. Rows older
than the window are deleted as new ones come. Used on PostgreSQL (the database replicas share); one
process on SQLite keeps its window in memory (`_ratelimit.LocalWindow`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import BigInteger, Float, Index, Integer, MetaData, String, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from integrations._ratelimit import CALLS, SEARCH, Taken, take_from
from integrations.base import CrmUnavailable
from integrations.sqltypes import NAMING_CONVENTION

BUCKETS = (CALLS, SEARCH)


class PacingBase(DeclarativeBase):
    """Its own metadata: the migrations create these tables beside core's."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CrmCallBucket(PacingBase):
    """One row per window: locked while a slot is taken in it."""

    __tablename__ = "crm_call_buckets"

    bucket: Mapped[str] = mapped_column(String(16), primary_key=True)


class CrmCall(PacingBase):
    __tablename__ = "crm_calls"
    __table_args__ = (Index("ix_crm_calls_bucket_at", "bucket", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    bucket: Mapped[str] = mapped_column(String(16))
    at: Mapped[float] = mapped_column(Float(precision=53))
    """Seconds since the epoch on the taking replica's clock (replicas' clocks agree to NTP's skew)."""


class SharedWindow:
    """A `CallWindow` in the database."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessions
        self._clock = clock

    def take(self, bucket: str, limit: int, period: float) -> Taken:
        try:
            return self._take(bucket, limit, period)
        except SQLAlchemyError as exc:
            # A CRM call that cannot be counted does not go: an accepted update stays queued, not failed.
            raise CrmUnavailable(
                f"the replicas' shared count of HubSpot calls is out of reach ({type(exc).__name__})"
            ) from exc

    def _take(self, bucket: str, limit: int, period: float) -> Taken:
        with self._sessions.begin() as session:
            locked = session.scalar(
                select(CrmCallBucket.bucket).where(CrmCallBucket.bucket == bucket).with_for_update()
            )
            if locked is None:
                raise ValueError(f"no window named {bucket!r} (the migration creates {', '.join(BUCKETS)})")
            now = self._clock()
            window = (CrmCall.bucket == bucket, CrmCall.at > now - period)
            recent = list(session.scalars(select(CrmCall.at).where(*window).order_by(CrmCall.at)))
            taken = take_from(recent, limit, period, now)
            if taken.wait == 0:
                session.add(CrmCall(bucket=bucket, at=now))
                session.execute(delete(CrmCall).where(CrmCall.bucket == bucket, CrmCall.at <= now - period))
            return taken
