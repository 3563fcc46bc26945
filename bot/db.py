"""Engine, sessions and schema status. The schema comes from Alembic, never `create_all`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

import migrations
from core.i18n import N_
from core.i18n.message import Message

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


class DatabaseError(Exception):
    """The database URL is unusable or the database cannot be reached."""


class SchemaOutdated(Exception):
    """The database is not at the latest migration."""


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the URL has (`postgres://` included)."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def create_db_engine(url: str, **kwargs: Any) -> Engine:
    try:
        parsed = make_url(normalize_url(url))
    except ArgumentError:
        raise DatabaseError(
            "DATABASE_URL is not a valid SQLAlchemy URL (e.g. sqlite:///drumbeat.db)."
        ) from None
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseError("DATABASE_URL must point to SQLite or PostgreSQL.")
    return create_engine(parsed, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL never corrupts and survives any crash of Drumbeat itself; only a power cut
    # can undo the last commits. FULL would fsync every acknowledgement.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class _SerialWriteSessions(sessionmaker[Session]):
    """SQLite has one writer at a time; waiting on a Python lock hands over at once, where SQLite's
    own busy handler sleeps up to 100 ms between tries. Write transactions are `sessions.begin()`."""

    _write_lock = threading.RLock()

    def begin(self) -> Any:
        @contextmanager
        def serialized() -> Iterator[Session]:
            with self._write_lock, super(_SerialWriteSessions, self).begin() as session:
                yield session

        return serialized()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    if engine.dialect.name == "sqlite":
        return _SerialWriteSessions(engine, expire_on_commit=False)
    return sessionmaker(engine, expire_on_commit=False)


def describe(engine: Engine) -> str:
    """The database for messages: URL without password."""
    return engine.url.render_as_string(hide_password=True)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except DBAPIError as exc:
        said = Message(
            N_("cannot reach the database at {database}: {reason}"),
            database=describe(engine),
            reason=_reason(exc),
        )
        raise DatabaseError(said) from None


def migrate(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to head; returns (before, after). Running it again changes nothing."""
    before = current_revision(engine)
    command.upgrade(alembic_config(engine), "head")
    return before, current_revision(engine)


def ensure_schema_current(engine: Engine) -> None:
    current, head = current_revision(engine), head_revision(engine)
    if current != head:
        where = describe(engine)
        if current is None:
            said = Message(
                N_(
                    "The database ({database}) is empty, not at the latest revision {head}: "
                    "run `drumbeat migrate` first."
                ),
                database=where,
                head=head,
            )
        else:
            said = Message(
                N_(
                    "The database ({database}) is at revision {current}, not at the latest revision {head}: "
                    "run `drumbeat migrate` first."
                ),
                database=where,
                current=current,
                head=head,
            )
        raise SchemaOutdated(said)


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
