"""`/deal` (its name comes from the rituals file): help, lists and searches are answered in the ack;
updates are stored as typed, acked, and answered through response_url right after."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from handlers.blocks import mrkdwn
from handlers.context import HandlerContext
from handlers.deal_flow import answer_command, needs_inbox

WORKING = "⏳ Working on it…"


def register(app: App, ctx: HandlerContext) -> None:
    @app.command(ctx.command)
    def deal_command(ack: Ack, command: dict[str, Any]) -> None:
        user_id, text, response_url = (
            command["user_id"],
            command.get("text") or "",
            command.get("response_url"),
        )
        if ctx.receive_command is not None and needs_inbox(ctx, text):
            # Stored as typed before the ack: the answer follows through response_url in a moment.
            ctx.receive_command(user_id, text, response_url)
            ack(blocks=[mrkdwn(WORKING)], text=WORKING, response_type="ephemeral")
            return
        reply = answer_command(ctx, user_id, text, response_url)
        # An accepted update is already in the outbox: acking now cannot lose it.
        ack(blocks=reply.blocks, text=reply.text, response_type="ephemeral")
        if reply.accepted:
            ctx.wake_worker()
