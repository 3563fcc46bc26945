"""person changes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:22:34.700898
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("crm_deals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("person_changed_at", sa.DateTime(), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("crm_deals", schema=None) as batch_op:
        batch_op.drop_column("person_changed_at")
