"""The long-lived objects one process needs, built once from settings (never at import time)."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock, system_clock
from bot.db import create_db_engine, session_factory
from bot.settings import Settings
from integrations import create_crm
from integrations.base import CRM


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    crm: CRM
    clock: Clock

    def close(self) -> None:
        self.engine.dispose()


def build_services(settings: Settings, *, clock: Clock = system_clock) -> Services:
    engine = create_db_engine(settings.database_url)
    sessions = session_factory(engine)
    return Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        crm=create_crm(settings, sessions, clock),
        clock=clock,
    )


def build_slack_client(settings: Settings) -> WebClient:
    token, _ = settings.require_slack()
    client = WebClient(token=token, base_url=settings.slack_api_url, timeout=15)
    # Honour Retry-After on 429s instead of failing the call.
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=5))
    return client
