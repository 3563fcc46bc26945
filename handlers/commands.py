"""`/deal` (the name comes from the rituals file): answered with an ephemeral message in the ack."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from handlers.context import HandlerContext
from handlers.deal_flow import answer_command


def register(app: App, ctx: HandlerContext) -> None:
    @app.command(ctx.command)
    def deal_command(ack: Ack, command: dict[str, Any]) -> None:
        reply = answer_command(
            ctx, command["user_id"], command.get("text") or "", command.get("response_url")
        )
        # An accepted update is already in the outbox: acking now cannot lose it.
        ack(blocks=reply.blocks, text=reply.text, response_type="ephemeral")
        if reply.accepted:
            ctx.wake_worker()
