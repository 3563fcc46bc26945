"""Buttons, overflow menus and pickers on deal cards and lists."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from core.deals.commands import Accepted, DealCommands, DealForm, Outcome, Refused
from core.i18n import Translator
from handlers import blocks
from handlers.payloads import BAD_BUTTON, deal_id_in, option_value
from handlers.replies import choice_of, reply_to

log = logging.getLogger(__name__)

MODALS = ("update", "note")


def register(app: App, deals: DealCommands) -> None:
    def reply_in_place(respond: Respond, outcome: Outcome, t: Translator) -> None:
        reply = reply_to(outcome, deals, t=t)
        respond(blocks=reply.blocks, text=reply.text, replace_original=True, response_type="ephemeral")
        if isinstance(outcome, Accepted):
            deals.wake_worker()

    def handle(verb: str, value: object, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        user_id = body["user"]["id"]
        t = deals.reader(user_id)
        deal_id = deal_id_in(value)
        if deal_id is None:
            respond(text=t._(BAD_BUTTON), replace_original=False, response_type="ephemeral")
            return
        if verb in MODALS:
            form = deals.form(user_id, deal_id, with_stages=verb == "update")
            open_form(client, body, verb, form, respond, response_url=body.get("response_url") or "", t=t)
            return
        reply_in_place(respond, deals.button(user_id, verb, deal_id, body.get("response_url")), t)

    def button(verb: str) -> Callable[..., None]:
        def listener(
            ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
        ) -> None:
            ack()
            handle(verb, action.get("value"), body, client, respond)

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
        verb, _, deal_id = option_value(action).partition(":")
        handle(verb, deal_id, body, client, respond)

    @app.action(blocks.PICK)
    def pick(ack: Ack, body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        ack()
        user_id = body["user"]["id"]
        t = deals.reader(user_id)
        choice_id, deal_id = choice_of(action.get("block_id") or ""), deal_id_in(option_value(action))
        if deal_id is None:
            respond(text=t._(BAD_BUTTON), replace_original=False, response_type="ephemeral")
            return
        reply_in_place(respond, deals.pick(user_id, choice_id, deal_id, body.get("response_url")), t)


def open_form(
    client: WebClient,
    body: dict[str, Any],
    verb: str,
    form: DealForm | Refused,
    respond: Respond,
    *,
    response_url: str,
    t: Translator,
) -> None:
    """The update (`verb` "update") or note modal for a deal, or why it cannot open; `response_url`
    is where the confirmation goes once the modal is submitted (empty: a DM)."""
    if isinstance(form, Refused):
        respond(text=form.message, replace_original=False, response_type="ephemeral")
        return
    metadata = {"deal_id": form.deal.id, "response_url": response_url}
    if verb == "update":
        view = blocks.update_modal(form.deal, form.stages, metadata, t=t)
    else:
        view = blocks.note_modal(form.deal, metadata, t=t)
    open_view(client, body, view, respond, t=t)


def metadata_of(view: dict[str, Any]) -> dict[str, str]:
    try:
        loaded = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    if not isinstance(loaded, dict):
        return {}
    # Only our own keys' string values: a number where a deal id goes must not reach a query.
    return {k: v for k, v in loaded.items() if isinstance(v, str) and len(v) <= 2000 and v.isprintable()}


def open_view(
    client: WebClient, body: dict[str, Any], view: dict[str, Any], respond: Respond, *, t: Translator
) -> None:
    """views.open, or a clear word when Slack refuses it (a trigger older than 3 s, for one)."""
    try:
        client.views_open(trigger_id=body.get("trigger_id") or "", view=view)
    except SlackApiError as exc:
        log.warning("views.open refused: %s", exc.response.get("error"))
        respond(
            text=t._("Slack didn't let me open that form in time. Please click again."),
            replace_original=False,
            response_type="ephemeral",
        )
