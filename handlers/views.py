"""Modal submissions: the update modal and the note modal. Problems show inline on the field."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from core.deals.commands import Accepted, DealCommands
from core.deals.fields import KEYS
from handlers import blocks
from handlers.actions import metadata_of
from handlers.notify import post_reply
from handlers.replies import ack_form


def register(app: App, deals: DealCommands) -> None:
    def confirm(client: WebClient, user_id: str, response_url: str | None, outcome: Accepted) -> None:
        deals.wake_worker()
        post_reply(
            client, user_id, response_url, blocks.accepted(outcome, deals.crm_label, t=deals.reader(user_id))
        )

    @app.view(blocks.UPDATE_MODAL)
    def update_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user_id, metadata = body["user"]["id"], metadata_of(view)
        values = view["state"]["values"]
        submitted = {key: _selected(values, key) or _text(values, key) or _date(values, key) for key in KEYS}
        response_url = metadata.get("response_url") or None
        outcome = deals.submit_update(
            user_id, metadata.get("deal_id", ""), submitted, response_url=response_url
        )
        ack_form(ack, outcome, field="stage")
        if isinstance(outcome, Accepted):
            confirm(client, user_id, metadata.get("response_url"), outcome)

    @app.view(blocks.NOTE_MODAL)
    def note_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user_id, metadata = body["user"]["id"], metadata_of(view)
        note = _text(view["state"]["values"], "note") or ""
        response_url = metadata.get("response_url") or None
        outcome = deals.submit_note(user_id, metadata.get("deal_id", ""), note, response_url=response_url)
        ack_form(ack, outcome, field="note")
        if isinstance(outcome, Accepted):
            confirm(client, user_id, metadata.get("response_url"), outcome)


def _selected(values: dict[str, Any], block_id: str) -> str | None:
    option = (values.get(block_id, {}).get("value") or {}).get("selected_option")
    return option.get("value") if isinstance(option, dict) else None


def _date(values: dict[str, Any], block_id: str) -> str | None:
    picked = (values.get(block_id, {}).get("value") or {}).get("selected_date")
    return picked if isinstance(picked, str) else None


def _text(values: dict[str, Any], block_id: str) -> str | None:
    value = (values.get(block_id, {}).get("value") or {}).get("value")
    return value.strip() if isinstance(value, str) else None
