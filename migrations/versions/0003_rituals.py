"""rituals

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:23:51.691832
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "nudges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slack_user", sa.String(length=32), nullable=False),
        sa.Column("deal_id", sa.String(length=64), nullable=False),
        sa.Column("ritual_id", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("firing_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("answer", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nudges")),
        sa.UniqueConstraint("slack_user", "deal_id", "ritual_id", "day", name="uq_nudges_once"),
    )
    with op.batch_alter_table("nudges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_nudges_firing_id"), ["firing_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_nudges_slack_user"), ["slack_user"], unique=False)

    op.create_table(
        "pending_dms",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slack_user", sa.String(length=32), nullable=False),
        sa.Column("firing_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ritual_id", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("blocks", sa.JSON(), nullable=False),
        sa.Column("send_after", sa.DateTime(), nullable=False),
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_dms")),
    )
    with op.batch_alter_table("pending_dms", schema=None) as batch_op:
        batch_op.create_index("ix_pending_dms_due", ["status", "send_after"], unique=False)
        batch_op.create_index(batch_op.f("ix_pending_dms_slack_user"), ["slack_user"], unique=False)

    op.create_table(
        "ritual_firings",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ritual_id", sa.String(length=100), nullable=False),
        sa.Column("scheduled_local", sa.String(length=32), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ritual_firings")),
        sa.UniqueConstraint("ritual_id", "scheduled_local", name="uq_ritual_firings_slot"),
    )
    op.create_table(
        "snoozes",
        sa.Column("deal_id", sa.String(length=64), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("snoozed_by", sa.String(length=32), nullable=False),
        sa.Column("snoozed_at", sa.DateTime(), nullable=False),
        sa.Column("touched_before", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("deal_id", name=op.f("pk_snoozes")),
    )


def downgrade() -> None:

    op.drop_table("snoozes")
    op.drop_table("ritual_firings")
    with op.batch_alter_table("pending_dms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_dms_slack_user"))
        batch_op.drop_index("ix_pending_dms_due")

    op.drop_table("pending_dms")
    with op.batch_alter_table("nudges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_nudges_slack_user"))
        batch_op.drop_index(batch_op.f("ix_nudges_firing_id"))

    op.drop_table("nudges")
