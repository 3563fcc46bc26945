"""`/deal` (its name comes from the rituals file): help, lists and searches are answered in the ack;
updates are stored as typed, acked, and answered through response_url right after."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from core.deals.commands import Accepted, DealCommands
from handlers.replies import reply_to


def register(app: App, deals: DealCommands) -> None:
    @app.command(deals.command)
    def deal_command(ack: Ack, command: dict[str, Any]) -> None:
        outcome = deals.receive(command["user_id"], command.get("text") or "", command.get("response_url"))
        reply = reply_to(outcome, deals, t=deals.reader(command["user_id"]))
        # An accepted or stored update is already in the database: acking now cannot lose it.
        ack(blocks=reply.blocks, text=reply.text, response_type="ephemeral")
        if isinstance(outcome, Accepted):
            deals.wake_worker()
