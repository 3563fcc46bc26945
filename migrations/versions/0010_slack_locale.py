"""slack_people: each person's Slack locale, so their messages speak their language

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 23:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Profiles cached before have no locale: they read the default language until their daily refresh.
    with op.batch_alter_table("slack_people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=35), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("slack_people", schema=None) as batch_op:
        batch_op.drop_column("locale")
