"""The long-lived objects one process needs, built once from settings (never at import time)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.db import create_db_engine, session_factory
from bot.settings import Settings
from core.clock import Clock, system_clock
from integrations.base import CRM
from rituals.config import RitualsConfig, load_rituals_file


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    crm: CRM
    clock: Clock
    rituals: RitualsConfig

    def close(self) -> None:
        self.engine.dispose()


def build_services(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    rituals: RitualsConfig | None = None,
    crm: CRM | None = None,
) -> Services:
    """Raises ConfigError when the rituals file exists but is invalid (a missing file means defaults)."""
    if rituals is None:
        rituals = (
            load_rituals_file(settings.rituals_file)
            if settings.rituals_file.exists()
            else RitualsConfig(rituals=[])
        )
    engine = create_db_engine(settings.database_url)
    sessions = session_factory(engine)
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        crm=crm or create_crm(settings, sessions, clock),
        clock=clock,
        rituals=rituals,
    )


def build_slack_client(settings: Settings) -> WebClient:
    token, _ = settings.require_slack()
    return slack_client(token, settings.slack_api_url)


def slack_client(token: str, api_url: str) -> WebClient:
    client = WebClient(token=token, base_url=api_url, timeout=15)
    # Honour Retry-After on 429s instead of failing the call.
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=5))
    return client


def create_crm(settings: Settings, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> CRM:
    """The adapter the settings ask for (`CRM`), built once per process."""
    if settings.crm == "demo":
        from integrations.demo import DemoCRM

        return DemoCRM(sessions, clock=clock)
    from integrations.hubspot import HubSpotCRM
    from integrations.shared_window import SharedWindow

    # Replicas share PostgreSQL, and through it one window of calls; one process on SQLite keeps its own.
    shared = sessions.kw["bind"].dialect.name == "postgresql"
    return HubSpotCRM(
        settings.require_hubspot_token(),
        base_url=settings.hubspot_api_url,
        allowance=settings.hubspot_requests_per_10s,
        budget_share=settings.hubspot_budget_share,
        daily_floor=settings.hubspot_daily_floor,
        call_window=SharedWindow(sessions) if shared else None,
    )
