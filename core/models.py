"""SQLAlchemy models. The schema itself is created by the Alembic migrations in `migrations/`."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from integrations.sqltypes import NAMING_CONVENTION, Money, UTCDateTime


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- Local mirror of the CRM (filled by `drumbeat sync`; rituals read from it) ---


class MirrorOwner(Base):
    __tablename__ = "crm_owners"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    # The CRM's teams the owner belongs to, as [{"id": ..., "name": ...}] (HubSpot: owners' `teams`).
    teams: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)

    @property
    def name(self) -> str:
        """How people read the owner: their name, else their email, else the CRM id."""
        return f"{self.first_name} {self.last_name}".strip() or self.email or self.id


class MirrorPipeline(Base):
    __tablename__ = "crm_pipelines"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    display_order: Mapped[int] = mapped_column(Integer, default=0)


class MirrorStage(Base):
    __tablename__ = "crm_stages"
    __table_args__ = (ForeignKeyConstraint(["pipeline_id"], ["crm_pipelines.id"], ondelete="CASCADE"),)

    pipeline_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    display_order: Mapped[int] = mapped_column(Integer, default=0)
    probability: Mapped[float | None] = mapped_column(Float)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)


class MirrorDeal(Base):
    __tablename__ = "crm_deals"
    __table_args__ = (
        Index("ix_crm_deals_owner_open", "owner_id", "is_closed"),
        Index("ix_crm_deals_pipeline_stage", "pipeline_id", "stage_id"),
        # The digest: the most valuable deals needing a decision, and counts by close date. Not
        # led by is_closed: most deals are open, and SQLite (no ANALYZE) would scan by it anyway.
        Index("ix_crm_deals_amount", "amount"),
        Index("ix_crm_deals_close_date", "close_date"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(500), default="")
    owner_id: Mapped[str | None] = mapped_column(String(64))
    pipeline_id: Mapped[str] = mapped_column(String(64))
    stage_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(8))
    close_date: Mapped[date | None] = mapped_column(Date)
    next_step: Mapped[str | None] = mapped_column(Text)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_modified_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_lost_reason: Mapped[str | None] = mapped_column(Text)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When a person last edited the deal in the CRM itself (from property history; None: not seen).
    person_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


_HISTORY_STATE = (
    "deal_id",
    "pipeline_id",
    "stage_id",
    "amount",
    "currency",
    "close_date",
    "owner_id",
    "is_closed",
    "is_won",
)
"""A history row's tracked state, as its covering indexes carry it."""


class DealHistory(Base):
    """Pipeline snapshots, stored as changes: each row is a deal's tracked state from `valid_from`
    until `valid_to` (None: still current). The state of every deal at any moment of the retention
    window is the row valid then, so "now against N days ago" needs no daily copy of every deal."""

    __tablename__ = "deal_history"
    __table_args__ = (
        # One current row per deal, even when two replicas sync at once.
        Index(
            "uq_deal_history_current",
            "deal_id",
            unique=True,
            sqlite_where=text("valid_to IS NULL"),
            postgresql_where=text("valid_to IS NULL"),
        ),
        # The changes no deal-alert look has checked yet: a few rows, however long the history.
        Index(
            "ix_deal_history_alerts_unchecked",
            "valid_from",
            sqlite_where=text("alerts_checked_at IS NULL"),
            postgresql_where=text("alerts_checked_at IS NULL"),
        ),
        # The digest reads the deals changed since a moment (their current rows begun since) and
        # their rows at that moment (valid then, ended since) from these alone, never the table.
        Index(
            "ix_deal_history_current_since",
            "valid_from",
            *_HISTORY_STATE,
            sqlite_where=text("valid_to IS NULL"),
            postgresql_where=text("valid_to IS NULL"),
        ),
        Index(
            "ix_deal_history_ended",
            "valid_to",
            "valid_from",
            *_HISTORY_STATE,
            sqlite_where=text("valid_to IS NOT NULL"),
            postgresql_where=text("valid_to IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    deal_id: Mapped[str] = mapped_column(String(64), index=True)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pipeline_id: Mapped[str] = mapped_column(String(64))
    stage_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(8))
    close_date: Mapped[date | None] = mapped_column(Date)
    owner_id: Mapped[str | None] = mapped_column(String(64))
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    alerts_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncState(Base):
    """One row per mirrored object type: where the last incremental sync got to."""

    __tablename__ = "sync_state"

    object_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    crm: Mapped[str] = mapped_column(String(32))
    high_water_mark: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_full_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# --- Slack request replay protection (shared by all replicas) ---


class SeenSlackRequest(Base):
    __tablename__ = "slack_seen_requests"

    signature: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


# --- People: Slack users Drumbeat has looked up (email for matching, time zone for dates) ---


class SlackPerson(Base):
    __tablename__ = "slack_people"

    slack_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    tz: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(35))  # Slack's, e.g. fr-FR; BCP 47 tags fit in 35
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- The outbox: accepted changes, stored before Slack gets its ack, applied to the CRM by workers ---


class OutboxEntry(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    deal_id: Mapped[str] = mapped_column(String(64), index=True)
    deal_name: Mapped[str] = mapped_column(String(500), default="")
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(32))
    response_url: Mapped[str | None] = mapped_column(Text)
    # The update's place in its deal's order, given when Slack's request was received (outbox module).
    received_order: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), default=0, server_default="0"
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, done, rejected, superseded
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    told_queued: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Every accepted change: who, when, which deal and field, old -> new, from where."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    slack_user: Mapped[str] = mapped_column(String(32), index=True)
    deal_id: Mapped[str] = mapped_column(String(64), index=True)
    field: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(32))
    outbox_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


class PendingChoice(Base):
    """An update that matched several deals: kept until the person picks one from the list."""

    __tablename__ = "pending_choices"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    slack_user: Mapped[str] = mapped_column(String(32))
    command_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReviewWeek(Base):
    """Whether an owner had every open deal reviewed in a given week (for streaks)."""

    __tablename__ = "review_weeks"

    owner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    week_start: Mapped[date] = mapped_column(Date, primary_key=True)
    up_to_date: Mapped[bool] = mapped_column(Boolean)
    # The week's latest count of open deals and of those reviewed within the window (adoption trend).
    open_deals: Mapped[int | None] = mapped_column(Integer)
    reviewed_deals: Mapped[int | None] = mapped_column(Integer)


# --- Rituals: firings claimed once, nudges sent once, snoozes, and DMs waiting for their time ---


class RitualFiring(Base):
    """One scheduled firing of a ritual; the unique key is what makes it run once across replicas."""

    __tablename__ = "ritual_firings"
    __table_args__ = (UniqueConstraint("ritual_id", "scheduled_local", name="uq_ritual_firings_slot"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ritual_id: Mapped[str] = mapped_column(String(100))
    scheduled_local: Mapped[str] = mapped_column(String(32))  # wall-clock time in the ritual's zone
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # running, done, failed, skipped
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    summary: Mapped[str | None] = mapped_column(Text)


class NudgeRecord(Base):
    """A deal put in front of a person by a ritual on a day: never the same nudge twice."""

    __tablename__ = "nudges"
    __table_args__ = (UniqueConstraint("slack_user", "deal_id", "ritual_id", "day", name="uq_nudges_once"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    slack_user: Mapped[str] = mapped_column(String(32), index=True)
    deal_id: Mapped[str] = mapped_column(String(64))
    ritual_id: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(Date)
    firing_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answer: Mapped[str | None] = mapped_column(String(32))


class Snooze(Base):
    __tablename__ = "snoozes"

    deal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    until: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    snoozed_by: Mapped[str] = mapped_column(String(32))
    snoozed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The deal's last real touch before the snooze: the snooze's own note is not a review.
    touched_before: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PendingDM(Base):
    """A ritual's DM, queued with the time it may go out (after quiet hours, an hour after the last one)."""

    __tablename__ = "pending_dms"
    __table_args__ = (Index("ix_pending_dms_due", "status", "send_after"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    slack_user: Mapped[str] = mapped_column(String(32), index=True)
    firing_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    ritual_id: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    blocks: Mapped[list[Any]] = mapped_column(JSON)
    send_after: Mapped[datetime] = mapped_column(UTCDateTime)
    tz: Mapped[str] = mapped_column(String(64), default="UTC")  # the person's, for quiet hours on retries
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    # Sent as a message of its own (1:1 prep: one DM per report), never batched or spaced with others.
    standalone: Mapped[bool] = mapped_column(Boolean, default=False)


class ReceivedCommand(Base):
    """A `/deal` update as typed, stored before Slack's ack; worked out and answered right after."""

    __tablename__ = "received_commands"
    __table_args__ = (Index("ix_received_commands_due", "status", "locked_until"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    slack_user: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    response_url: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="received")  # received, done, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)  # why it was retried, or given up ("failed")


# --- Deal alerts: each (rule, change) matched once, and the channel posts waiting to go out ---


class AlertMatch(Base):
    """A deal alert rule matched a change of the history: at most once, whichever replica saw it."""

    __tablename__ = "alert_matches"
    __table_args__ = (UniqueConstraint("ritual_id", "history_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ritual_id: Mapped[str] = mapped_column(String(100))
    history_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    deal_id: Mapped[str] = mapped_column(String(64))
    matched_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    said_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: held (a burst, a retry)


class AlertPost(Base):
    """A deal alert for a channel, rendered, waiting to be posted (a use of the leased queue)."""

    __tablename__ = "alert_posts"
    __table_args__ = (Index("ix_alert_posts_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ritual_id: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    blocks: Mapped[list[Any]] = mapped_column(JSON)
    thread: Mapped[list[Any]] = mapped_column(JSON)  # [{"text": …, "blocks": […]}, …]
    deals: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, posted, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel_id: Mapped[str | None] = mapped_column(String(32))
    ts: Mapped[str | None] = mapped_column(String(32))
