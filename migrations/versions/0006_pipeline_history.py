"""pipeline history, owner teams, adoption figures, standalone DMs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 21:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deal_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("deal_id", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.DateTime(), nullable=False),
        sa.Column("valid_to", sa.DateTime(), nullable=True),
        sa.Column("pipeline_id", sa.String(length=64), nullable=False),
        sa.Column("stage_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=4, asdecimal=False), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("is_closed", sa.Boolean(), nullable=False),
        sa.Column("is_won", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_history")),
    )
    with op.batch_alter_table("deal_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deal_history_deal_id"), ["deal_id"], unique=False)
        batch_op.create_index(
            "uq_deal_history_current",
            ["deal_id"],
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )
        batch_op.create_index(batch_op.f("ix_deal_history_valid_from"), ["valid_from"], unique=False)
        batch_op.create_index(batch_op.f("ix_deal_history_valid_to"), ["valid_to"], unique=False)

    with op.batch_alter_table("crm_deals", schema=None) as batch_op:
        batch_op.create_index("ix_crm_deals_amount", ["amount"], unique=False)
        batch_op.create_index("ix_crm_deals_close_date", ["close_date"], unique=False)
    with op.batch_alter_table("crm_owners", schema=None) as batch_op:
        batch_op.add_column(sa.Column("teams", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("review_weeks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("open_deals", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reviewed_deals", sa.Integer(), nullable=True))
    with op.batch_alter_table("pending_dms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("standalone", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("pending_dms", schema=None) as batch_op:
        batch_op.drop_column("standalone")
    with op.batch_alter_table("review_weeks", schema=None) as batch_op:
        batch_op.drop_column("reviewed_deals")
        batch_op.drop_column("open_deals")
    with op.batch_alter_table("crm_owners", schema=None) as batch_op:
        batch_op.drop_column("teams")
    with op.batch_alter_table("crm_deals", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_deals_close_date")
        batch_op.drop_index("ix_crm_deals_amount")
    with op.batch_alter_table("deal_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deal_history_valid_to"))
        batch_op.drop_index(batch_op.f("ix_deal_history_valid_from"))
        batch_op.drop_index("uq_deal_history_current")
        batch_op.drop_index(batch_op.f("ix_deal_history_deal_id"))
    op.drop_table("deal_history")
