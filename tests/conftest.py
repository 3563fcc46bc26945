"""Shared fixtures: databases (SQLite and real PostgreSQL), fake Slack and HubSpot servers, a running app."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bot.db import create_db_engine, migrate, normalize_url, session_factory
from bot.server import HttpServer
from bot.services import Services, build_services, build_slack_client
from bot.settings import Settings, load_settings
from bot.slack_app import SlackRuntime, create_runtime
from core.clock import Clock, system_clock
from integrations.base import CRM
from rituals.config import RitualsConfig
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.slack_signing import SlackRequests

SIGNING_SECRET = "test-signing-secret-1234567890abcdef"
BOT_TOKEN = "xoxb-test-token"
HUBSPOT_TOKEN = "pat-test-token"


def _postgres_admin_url() -> str | None:
    return os.environ.get("DRUMBEAT_TEST_DATABASE_URL") or None


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """The PostgreSQL server tests create their own databases on; skipped only where none is configured."""
    url = _postgres_admin_url()
    if url is None:
        if os.environ.get("DRUMBEAT_REQUIRE_POSTGRES") or os.environ.get("CI"):
            pytest.fail("DRUMBEAT_TEST_DATABASE_URL is not set, and PostgreSQL tests are required here")
        pytest.skip("DRUMBEAT_TEST_DATABASE_URL is not set")
    try:
        with psycopg.connect(_libpq(url), connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at DRUMBEAT_TEST_DATABASE_URL is unreachable: {exc}")
    return url


def _libpq(url: str) -> str:
    return normalize_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"drumbeat_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(postgres_admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(normalize_url(postgres_admin_url)).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with psycopg.connect(_libpq(postgres_admin_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_postgres_url(postgres_url: str) -> str:
    """A fresh PostgreSQL database at the latest migration, for tests that start several replicas."""
    engine = create_db_engine(postgres_url)
    migrate(engine)
    engine.dispose()
    return postgres_url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'drumbeat.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> Any:
    return session_factory(engine)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack(bot_token=BOT_TOKEN) as slack:
        yield slack


@pytest.fixture
def fake_hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(token=HUBSPOT_TOKEN) as hubspot:
        yield hubspot


def make_settings(
    database_url: str, slack: FakeSlack, hubspot: FakeHubSpot | None = None, **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.api_url,
        "database_url": database_url,
        "log_format": "text",
    }
    if hubspot is not None:
        values.update(hubspot_access_token=HUBSPOT_TOKEN, hubspot_api_url=hubspot.url, CRM="hubspot")
    else:
        values["CRM"] = "demo"
    values.update(extra)
    return load_settings(env_file=None, **values)


@dataclass
class RunningApp:
    """One app instance (a replica) serving HTTP on a local port."""

    services: Services
    runtime: SlackRuntime
    server: HttpServer
    slack: SlackRequests

    @property
    def url(self) -> str:
        return self.server.url


def start_app(
    settings: Settings,
    *,
    worker: bool = True,
    rituals: RitualsConfig | None = None,
    crm: CRM | None = None,
    clock: Clock = system_clock,
) -> RunningApp:
    """One replica; `worker=False` is a replica whose outbox worker is not running (crashed or not yet up)."""
    services = build_services(settings, rituals=rituals or RitualsConfig(rituals=[]), crm=crm, clock=clock)
    runtime = create_runtime(services, build_slack_client(settings))
    server = HttpServer(runtime.web_app(services), host="127.0.0.1", port=0, threads=8).start()
    if worker:
        runtime.start_workers()
    return RunningApp(services, runtime, server, SlackRequests(server.url, SIGNING_SECRET))


def stop_app(app: RunningApp) -> None:
    app.slack.close()
    app.server.stop()
    app.runtime.stop_workers()
    app.services.close()


@pytest.fixture
def running_app(engine: Engine, database_url: str, fake_slack: FakeSlack) -> Iterator[RunningApp]:
    app = start_app(make_settings(database_url, fake_slack))
    yield app
    stop_app(app)
