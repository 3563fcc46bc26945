"""deal alerts: history rows checked once, each (rule, change) matched and said once, channel posts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 21:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("deal_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alerts_checked_at", sa.DateTime(), nullable=True))
        batch_op.create_index(
            "ix_deal_history_alerts_unchecked",
            ["valid_from"],
            unique=False,
            sqlite_where=sa.text("alerts_checked_at IS NULL"),
            postgresql_where=sa.text("alerts_checked_at IS NULL"),
        )
    # The history so far is the past for alerts, which start watching at their first look.
    op.execute("UPDATE deal_history SET alerts_checked_at = valid_from")
    op.create_table(
        "alert_matches",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ritual_id", sa.String(length=100), nullable=False),
        sa.Column("history_id", _ID, nullable=False),
        sa.Column("deal_id", sa.String(length=64), nullable=False),
        sa.Column("matched_at", sa.DateTime(), nullable=False),
        sa.Column("said_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_matches")),
        sa.UniqueConstraint("ritual_id", "history_id", name=op.f("uq_alert_matches_ritual_id")),
    )
    op.create_index(op.f("ix_alert_matches_matched_at"), "alert_matches", ["matched_at"], unique=False)
    op.create_table(
        "alert_posts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("ritual_id", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("blocks", sa.JSON(), nullable=False),
        sa.Column("thread", sa.JSON(), nullable=False),
        sa.Column("deals", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.Column("locked_by", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_posts")),
    )
    op.create_index("ix_alert_posts_due", "alert_posts", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deal_history", schema=None) as batch_op:
        batch_op.drop_index("ix_deal_history_alerts_unchecked")
        batch_op.drop_column("alerts_checked_at")
    op.drop_index("ix_alert_posts_due", table_name="alert_posts")
    op.drop_table("alert_posts")
    op.drop_index(op.f("ix_alert_matches_matched_at"), table_name="alert_matches")
    op.drop_table("alert_matches")
