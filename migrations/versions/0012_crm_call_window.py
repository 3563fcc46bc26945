"""crm_calls: one window of HubSpot calls shared by every replica (HUBSPOT_BUDGET_SHARE for all together)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 23:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    buckets = op.create_table(
        "crm_call_buckets",
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("bucket", name=op.f("pk_crm_call_buckets")),
    )
    op.bulk_insert(buckets, [{"bucket": "calls"}, {"bucket": "search"}])
    op.create_table(
        "crm_calls",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("bucket", sa.String(length=16), nullable=False),
        sa.Column("at", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_calls")),
    )
    op.create_index("ix_crm_calls_bucket_at", "crm_calls", ["bucket", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_crm_calls_bucket_at", table_name="crm_calls")
    op.drop_table("crm_calls")
    op.drop_table("crm_call_buckets")
