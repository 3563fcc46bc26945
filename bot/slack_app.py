"""Build the Bolt app and the WSGI app around it from settings and services (a factory, not a global)."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.exc import DBAPIError

from bot.db import ping
from bot.replay_guard import ReplayGuard
from bot.services import Services
from bot.web import CachedProbe, HealthProbes, WebApp
from handlers import register_listeners
from integrations.base import CrmError

log = logging.getLogger(__name__)


def create_bolt_app(services: Services, client: WebClient) -> App:
    _, signing_secret = services.settings.require_slack()
    app = App(
        client=client,
        signing_secret=signing_secret,
        # Checked once at start-up by `serve` with a clear message, and by /healthz.
        token_verification_enabled=False,
        logger=logging.getLogger("drumbeat.bolt"),
    )
    register_listeners(app, services)
    return app


def create_web_app(services: Services, client: WebClient) -> WebApp:
    _, signing_secret = services.settings.require_slack()
    return WebApp(
        create_bolt_app(services, client),
        signing_secret=signing_secret,
        replay_guard=ReplayGuard(services.sessions),
        health=HealthProbes(
            database=lambda: _database_problem(services),
            slack=CachedProbe(lambda: slack_token_problem(client)),
            crm=CachedProbe(lambda: _crm_problem(services)),
        ),
        clock=services.clock,
    )


def slack_token_problem(client: WebClient) -> str | None:
    """None when Slack accepts the bot token, else why not."""
    try:
        client.auth_test()
    except SlackApiError as exc:
        return f"Slack refused the bot token ({exc.response.get('error', 'unknown error')})"
    except (SlackClientError, OSError) as exc:
        return f"Slack is unreachable ({type(exc).__name__})"
    return None


def _database_problem(services: Services) -> str | None:
    try:
        ping(services.engine)
    except DBAPIError as exc:
        return f"database unreachable ({type(exc.orig).__name__})"
    return None


def _crm_problem(services: Services) -> str | None:
    try:
        services.crm.check_access()
    except CrmError as exc:
        return str(exc)
    return None
