"""Slack listeners. Each module has one `register(app, …)` taking the core services it needs;
listeners ack, call one core function and render its outcome."""

from __future__ import annotations

from slack_bolt import App

from core.deals.commands import DealCommands
from core.deals.nudge_answers import NudgeAnswers
from handlers import actions, commands, errors, home, nudges, views

__all__ = ["register_listeners"]


def register_listeners(app: App, deals: DealCommands, answers: NudgeAnswers) -> None:
    errors.register(app, deals)
    commands.register(app, deals)
    actions.register(app, deals)
    views.register(app, deals)
    home.register(app, deals)
    nudges.register(app, deals, answers)
