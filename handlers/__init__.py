"""Slack listeners. Each module has one `register(app, ctx)`; listeners stay thin and call plain functions."""

from __future__ import annotations

from slack_bolt import App

from handlers import actions, commands, errors, home, nudges, views
from handlers.context import HandlerContext


def register_listeners(app: App, ctx: HandlerContext) -> None:
    errors.register(app)
    commands.register(app, ctx)
    actions.register(app, ctx)
    views.register(app, ctx)
    home.register(app, ctx)
    nudges.register(app, ctx)
