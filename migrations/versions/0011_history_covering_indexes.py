"""deal_history: covering indexes for the digest's two range reads (the rows begun since a moment that
are still current, and the rows valid at that moment that have since ended); the second replaces the
plain valid_to index, which it serves as well

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 23:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATE = [
    "deal_id",
    "pipeline_id",
    "stage_id",
    "amount",
    "currency",
    "close_date",
    "owner_id",
    "is_closed",
    "is_won",
]


def upgrade() -> None:
    with op.batch_alter_table("deal_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deal_history_current_since",
            ["valid_from", *_STATE],
            unique=False,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.create_index(
            "ix_deal_history_ended",
            ["valid_to", "valid_from", *_STATE],
            unique=False,
            sqlite_where=sa.text("valid_to IS NOT NULL"),
            postgresql_where=sa.text("valid_to IS NOT NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_deal_history_valid_to"))


def downgrade() -> None:
    with op.batch_alter_table("deal_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deal_history_valid_to"), ["valid_to"], unique=False)
        batch_op.drop_index("ix_deal_history_ended")
        batch_op.drop_index("ix_deal_history_current_since")
