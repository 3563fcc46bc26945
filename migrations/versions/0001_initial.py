"""mirror, demo crm, slack replay guard

Revision ID: 0001
Revises:
Create Date: 2026-11-23 13:48:21.543823
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "crm_deals",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("pipeline_id", sa.String(length=64), nullable=False),
        sa.Column("stage_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=True),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("next_step", sa.Text(), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(), nullable=True),
        sa.Column("last_modified_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("is_closed", sa.Boolean(), nullable=False),
        sa.Column("is_won", sa.Boolean(), nullable=False),
        sa.Column("closed_lost_reason", sa.Text(), nullable=True),
        sa.Column("synced_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_deals")),
    )
    with op.batch_alter_table("crm_deals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_deals_last_modified_at"), ["last_modified_at"], unique=False)
        batch_op.create_index("ix_crm_deals_owner_open", ["owner_id", "is_closed"], unique=False)
        batch_op.create_index("ix_crm_deals_pipeline_stage", ["pipeline_id", "stage_id"], unique=False)

    op.create_table(
        "crm_owners",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("first_name", sa.String(length=200), nullable=False),
        sa.Column("last_name", sa.String(length=200), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_owners")),
    )
    with op.batch_alter_table("crm_owners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_owners_email"), ["email"], unique=False)

    op.create_table(
        "crm_pipelines",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_pipelines")),
    )
    op.create_table(
        "demo_deals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("pipeline_id", sa.String(length=64), nullable=False),
        sa.Column("stage_id", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("next_step", sa.Text(), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(), nullable=True),
        sa.Column("last_modified_at", sa.DateTime(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_lost_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_deals")),
    )
    with op.batch_alter_table("demo_deals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_demo_deals_last_modified_at"), ["last_modified_at"], unique=False
        )

    op.create_table(
        "demo_notes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("deal_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.DateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_notes")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_demo_notes_idempotency_key")),
    )
    with op.batch_alter_table("demo_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_demo_notes_deal_id"), ["deal_id"], unique=False)

    op.create_table(
        "demo_owners",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("first_name", sa.String(length=200), nullable=False),
        sa.Column("last_name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_owners")),
        sa.UniqueConstraint("email", name=op.f("uq_demo_owners_email")),
    )
    op.create_table(
        "demo_pipelines",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_pipelines")),
    )
    op.create_table(
        "slack_seen_requests",
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("signature", name=op.f("pk_slack_seen_requests")),
    )
    with op.batch_alter_table("slack_seen_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_seen_requests_seen_at"), ["seen_at"], unique=False)

    op.create_table(
        "sync_state",
        sa.Column("object_type", sa.String(length=32), nullable=False),
        sa.Column("crm", sa.String(length=32), nullable=False),
        sa.Column("high_water_mark", sa.DateTime(), nullable=True),
        sa.Column("last_full_sync_at", sa.DateTime(), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("object_type", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "crm_stages",
        sa.Column("pipeline_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("is_closed", sa.Boolean(), nullable=False),
        sa.Column("is_won", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["crm_pipelines.id"],
            name=op.f("fk_crm_stages_pipeline_id_crm_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pipeline_id", "id", name=op.f("pk_crm_stages")),
    )
    op.create_table(
        "demo_stages",
        sa.Column("pipeline_id", sa.String(length=64), nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("is_closed", sa.Boolean(), nullable=False),
        sa.Column("is_won", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["demo_pipelines.id"],
            name=op.f("fk_demo_stages_pipeline_id_demo_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pipeline_id", "id", name=op.f("pk_demo_stages")),
    )


def downgrade() -> None:

    op.drop_table("demo_stages")
    op.drop_table("crm_stages")
    op.drop_table("sync_state")
    with op.batch_alter_table("slack_seen_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_seen_requests_seen_at"))

    op.drop_table("slack_seen_requests")
    op.drop_table("demo_pipelines")
    op.drop_table("demo_owners")
    with op.batch_alter_table("demo_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_demo_notes_deal_id"))

    op.drop_table("demo_notes")
    with op.batch_alter_table("demo_deals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_demo_deals_last_modified_at"))

    op.drop_table("demo_deals")
    op.drop_table("crm_pipelines")
    with op.batch_alter_table("crm_owners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_owners_email"))

    op.drop_table("crm_owners")
    with op.batch_alter_table("crm_deals", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_deals_pipeline_stage")
        batch_op.drop_index("ix_crm_deals_owner_open")
        batch_op.drop_index(batch_op.f("ix_crm_deals_last_modified_at"))

    op.drop_table("crm_deals")
