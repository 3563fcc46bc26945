"""The built-in demo CRM's own tables: a small CRM stored in Drumbeat's database, apart from the mirror."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKeyConstraint,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from integrations.sqltypes import NAMING_CONVENTION, Money, UTCDateTime


class DemoBase(DeclarativeBase):
    """Its own metadata: the migrations create these tables beside core's."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DemoOwner(DemoBase):
    __tablename__ = "demo_owners"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str] = mapped_column(String(200))
    last_name: Mapped[str] = mapped_column(String(200))


class DemoPipeline(DemoBase):
    __tablename__ = "demo_pipelines"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    display_order: Mapped[int] = mapped_column(Integer)


class DemoStage(DemoBase):
    __tablename__ = "demo_stages"
    __table_args__ = (ForeignKeyConstraint(["pipeline_id"], ["demo_pipelines.id"], ondelete="CASCADE"),)

    pipeline_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    display_order: Mapped[int] = mapped_column(Integer)
    probability: Mapped[float] = mapped_column(Float)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)


class DemoDeal(DemoBase):
    __tablename__ = "demo_deals"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    owner_id: Mapped[str | None] = mapped_column(String(64))
    pipeline_id: Mapped[str] = mapped_column(String(64))
    stage_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(8))
    close_date: Mapped[date | None] = mapped_column(Date)
    next_step: Mapped[str | None] = mapped_column(Text)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_modified_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_lost_reason: Mapped[str | None] = mapped_column(Text)


class DemoNote(DemoBase):
    __tablename__ = "demo_notes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    deal_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    body: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    idempotency_key: Mapped[str | None] = mapped_column(String(100), unique=True)
