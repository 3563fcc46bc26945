"""Modal submissions: the update modal and the note modal. Problems show inline on the field."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from core.deals import refusals
from core.deals.desk import Refused
from core.deals.fields import KEYS, modal_changes
from handlers import blocks
from handlers.actions import metadata_of
from handlers.context import HandlerContext
from handlers.deal_flow import accept_from_modal
from handlers.notify import post_reply


def register(app: App, ctx: HandlerContext) -> None:
    @app.view(blocks.UPDATE_MODAL)
    def update_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: Any) -> None:
        metadata = metadata_of(view)
        deal = ctx.desk.get(metadata.get("deal_id", ""))
        if deal is None:
            ack(response_action="errors", errors={"stage": refusals.DEAL_GONE})
            return
        values = view["state"]["values"]
        submitted = {key: _selected(values, key) or _text(values, key) or _date(values, key) for key in KEYS}
        changes, errors = modal_changes(deal, submitted)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        result = accept_from_modal(
            ctx, body["user"]["id"], deal, changes, None, metadata.get("response_url") or None
        )
        if isinstance(result, Refused):
            if result.message.startswith("Nothing to change"):
                ack()  # nothing edited: closing the modal is the answer
                return
            ack(response_action="errors", errors={"stage": result.message[:150]})
            return
        ack()
        ctx.wake_worker()
        post_reply(
            client, body["user"]["id"], metadata.get("response_url"), blocks.accepted(result, ctx.crm_label)
        )

    @app.view(blocks.NOTE_MODAL)
    def note_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: Any) -> None:
        metadata = metadata_of(view)
        deal = ctx.desk.get(metadata.get("deal_id", ""))
        note = _text(view["state"]["values"], "note") or ""
        if deal is None:
            ack(response_action="errors", errors={"note": refusals.DEAL_GONE})
            return
        if not note.strip():
            ack(response_action="errors", errors={"note": "Write something first."})
            return
        result = accept_from_modal(
            ctx, body["user"]["id"], deal, [], note, metadata.get("response_url") or None
        )
        if isinstance(result, Refused):
            ack(response_action="errors", errors={"note": result.message[:150]})
            return
        ack()
        ctx.wake_worker()
        post_reply(
            client, body["user"]["id"], metadata.get("response_url"), blocks.accepted(result, ctx.crm_label)
        )


def _selected(values: dict[str, Any], block_id: str) -> str | None:
    option = (values.get(block_id, {}).get("value") or {}).get("selected_option")
    return option.get("value") if isinstance(option, dict) else None


def _date(values: dict[str, Any], block_id: str) -> str | None:
    picked = (values.get(block_id, {}).get("value") or {}).get("selected_date")
    return picked if isinstance(picked, str) else None


def _text(values: dict[str, Any], block_id: str) -> str | None:
    value = (values.get(block_id, {}).get("value") or {}).get("value")
    return value.strip() if isinstance(value, str) else None
