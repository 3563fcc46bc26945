"""Migrations are the only source of the schema, on SQLite and PostgreSQL, and are idempotent."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from bot.db import create_db_engine, head_revision
from migrations.schema import METADATA
from tests.cli import run_drumbeat


def test_migrate_reaches_head_and_a_second_run_changes_nothing(database_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": database_url}
    first = run_drumbeat("migrate", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    head = head_revision(create_db_engine(database_url))
    assert f"migrated from empty to {head}" in first.stdout
    second = run_drumbeat("migrate", env=env, cwd=tmp_path)
    assert second.returncode == 0
    assert f"already at the latest revision ({head})" in second.stdout


def test_the_migrated_schema_matches_the_models(engine: object) -> None:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), METADATA)
    assert diff == []
    assert {"crm_deals", "crm_owners", "crm_pipelines", "crm_stages", "sync_state"} <= set(
        inspect(engine).get_table_names()
    )


def test_commands_refuse_to_run_on_an_outdated_schema(database_url: str, tmp_path: Path) -> None:
    result = run_drumbeat("sync", env={"DATABASE_URL": database_url, "CRM": "demo"}, cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "is empty, not at the latest revision" in result.stderr
    assert "run `drumbeat migrate` first" in result.stderr


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    result = run_drumbeat(
        "migrate", env={"DATABASE_URL": "postgresql://drumbeat:hunter2@127.0.0.1:1/x"}, cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr.startswith(
        "error: cannot reach the database at postgresql+psycopg://drumbeat:***@127.0.0.1:1/x"
    )
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_nonsense_database_url_is_explained(tmp_path: Path) -> None:
    result = run_drumbeat("migrate", env={"DATABASE_URL": "mysql://root@localhost/x"}, cwd=tmp_path)
    assert result.returncode == 1
    assert "DATABASE_URL must point to SQLite or PostgreSQL" in result.stderr
