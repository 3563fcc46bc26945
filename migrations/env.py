"""Alembic environment: run with the engine `bot.db` hands over (or `sqlalchemy.url` from alembic.ini)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, create_engine

from migrations.schema import METADATA

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:  # `alembic` run by hand, for autogenerate
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///drumbeat.db")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=METADATA,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
