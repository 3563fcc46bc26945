"""received commands

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 14:38:48.344466
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "received_commands",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slack_user", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("response_url", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_received_commands")),
    )
    with op.batch_alter_table("received_commands", schema=None) as batch_op:
        batch_op.create_index("ix_received_commands_due", ["status", "locked_until"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("received_commands", schema=None) as batch_op:
        batch_op.drop_index("ix_received_commands_due")

    op.drop_table("received_commands")
