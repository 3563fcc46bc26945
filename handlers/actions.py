"""Buttons, overflow menus and pickers on deal cards and lists."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from core.deals import refusals
from handlers import blocks
from handlers.context import HandlerContext
from handlers.deal_flow import Reply, answer_button, answer_pick

log = logging.getLogger(__name__)


def register(app: App, ctx: HandlerContext) -> None:
    def reply_in_place(respond: Respond, reply: Reply) -> None:
        respond(blocks=reply.blocks, text=reply.text, replace_original=True, response_type="ephemeral")
        if reply.accepted:
            ctx.wake_worker()

    def open_modal(
        client: WebClient, body: dict[str, Any], verb: str, deal_id: str, respond: Respond
    ) -> None:
        deal = ctx.desk.get(deal_id)
        if deal is None:
            respond(text=refusals.DEAL_GONE, replace_original=False, response_type="ephemeral")
            return
        metadata = {"deal_id": deal.id, "response_url": body.get("response_url") or ""}
        if verb == "update":
            view = blocks.update_modal(deal, ctx.desk.stage_options(deal.pipeline_id), metadata)
        else:
            view = blocks.note_modal(deal, metadata)
        open_view(client, body, view, respond)

    def handle(verb: str, deal_id: str, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        if verb in ("update", "note"):
            open_modal(client, body, verb, deal_id, respond)
            return
        reply = answer_button(ctx, body["user"]["id"], verb, deal_id, body.get("response_url"))
        reply_in_place(respond, reply)

    def button(verb: str) -> Callable[..., None]:
        def listener(
            ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
        ) -> None:
            ack()
            handle(verb, action["value"], body, client, respond)

        return listener

    for action_id, verb in (
        (blocks.UPDATE, "update"),
        (blocks.NOTE, "note"),
        (blocks.ON_TRACK, "on_track"),
        (blocks.MARK_LOST, "mark_lost"),
    ):
        app.action(action_id)(button(verb))

    @app.action(blocks.MENU)
    def menu(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        verb, _, deal_id = action["selected_option"]["value"].partition(":")
        handle(verb, deal_id, body, client, respond)

    @app.action(blocks.PICK)
    def pick(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        deal_id = action["selected_option"]["value"]
        reply = answer_pick(ctx, body["user"]["id"], action["block_id"], deal_id, body.get("response_url"))
        reply_in_place(respond, reply)


def metadata_of(view: dict[str, Any]) -> dict[str, str]:
    try:
        loaded = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def open_view(client: WebClient, body: dict[str, Any], view: dict[str, Any], respond: Respond) -> None:
    """views.open, or a clear word when Slack refuses it (a trigger older than 3 s, for one)."""
    try:
        client.views_open(trigger_id=body["trigger_id"], view=view)
    except SlackApiError as exc:
        log.warning("views.open refused: %s", exc.response.get("error"))
        respond(
            text="Slack didn't let me open that form in time. Please click again.",
            replace_original=False,
            response_type="ephemeral",
        )
