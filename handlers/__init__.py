"""Slack listeners. Each module has one `register(app, services)`; listeners stay thin."""

from __future__ import annotations

from slack_bolt import App

from bot.services import Services
from handlers import errors


def register_listeners(app: App, services: Services) -> None:
    errors.register(app, services)
