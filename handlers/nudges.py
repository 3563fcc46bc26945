"""Nudge DMs: how they read, and their buttons. A click updates the message in place."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from sqlalchemy import update

from core.deals import refusals
from core.deals.desk import Refused
from core.deals.snooze import snooze_deal
from core.formatting import format_money
from core.models import NudgeRecord
from handlers import blocks
from handlers.actions import metadata_of, open_view
from handlers.context import HandlerContext
from handlers.deal_flow import answer_button
from rituals.engine import NudgeMessage

ON_TRACK, UPDATE, SNOOZE, MARK_LOST, MORE = (
    "nudge.on_track",
    "nudge.update",
    "nudge.snooze",
    "nudge.mark_lost",
    "nudge.more",
)
SNOOZE_MODAL = "nudge.snooze_modal"


def render_nudge(message: NudgeMessage) -> tuple[str, list[dict[str, Any]]]:
    """Short, friendly, never blaming: progress first, then what needs a look, each with its buttons."""
    n = len(message.items) + message.more
    if message.kind == "stale_deals":
        need = f"{n} need{'s' if n == 1 else ''} a look"
        fresh = f"{message.fresh_count} of your {message.open_count} open deals are fresh"
        intro = f"Hi {message.first_name}! {fresh} — {need}."
        if message.streak:
            intro += f" You're on a {message.streak}-week streak 🔥"
    else:
        intro = f"Hi {message.first_name}, a few details to tidy up on {n} deal{'s' if n != 1 else ''}:"
    out: list[dict[str, Any]] = [blocks.mrkdwn(intro)]
    for item in message.items:
        deal = item.deal
        amount = format_money(deal.amount, deal.currency)
        line = f"{blocks.deal_link(deal)} · {blocks.escape(deal.stage_label)} · {amount}"
        out.append(
            {
                "type": "section",
                "block_id": f"nudge:{deal.id}",
                "text": {"type": "mrkdwn", "text": blocks.text(f"{line}\n_{', '.join(item.reasons)}_")},
            }
        )
        out.append(
            {
                "type": "actions",
                "block_id": f"nudge-actions:{deal.id}",
                "elements": [
                    *(
                        [
                            blocks.button("Still on track", ON_TRACK, deal.id, "primary"),
                            blocks.button("Update…", UPDATE, deal.id),
                        ]
                        if message.kind == "stale_deals"
                        else [blocks.button("Update…", UPDATE, deal.id, "primary")]
                    ),
                    {
                        "type": "static_select",
                        "action_id": SNOOZE,
                        "placeholder": {"type": "plain_text", "text": "Snooze"},
                        "options": [
                            *(blocks.option(f"{d} days", f"{d}:{deal.id}") for d in message.snooze_days),
                            blocks.option("Until a date…", f"date:{deal.id}"),
                        ],
                    },
                    blocks.mark_lost_button(deal.id, deal.name, MARK_LOST),
                ],
            }
        )
    if message.more:
        out.append(
            {
                "type": "actions",
                "block_id": "nudge-more",
                "elements": [blocks.button(f"See the other {message.more}", MORE, message.ritual_id)],
            }
        )
    out.append(blocks.context("One click answers; everything goes straight to the CRM."))
    return intro, out


def answered(message_blocks: list[dict[str, Any]], deal_id: str, outcome: str) -> list[dict[str, Any]]:
    """The nudge with one deal's buttons replaced by what was done."""
    updated = []
    for block in message_blocks:
        # A DM batching two rituals prefixes block ids ("r12-nudge-actions:42").
        if str(block.get("block_id", "")).endswith(f"nudge-actions:{deal_id}"):
            updated.append(
                {
                    "type": "context",
                    "block_id": f"nudge-done:{deal_id}",
                    "elements": [{"type": "mrkdwn", "text": blocks.text(outcome, 2000)}],
                }
            )
        else:
            updated.append(block)
    return updated


def register(app: App, ctx: HandlerContext) -> None:
    def update_message(client: WebClient, body: dict[str, Any], deal_id: str, outcome: str) -> None:
        message = body.get("message") or {}
        container = body.get("container") or {}
        channel = container.get("channel_id") or (body.get("channel") or {}).get("id")
        if not channel or not message.get("ts"):
            return
        client.chat_update(
            channel=channel,
            ts=message["ts"],
            text=message.get("text") or "Drumbeat",
            blocks=answered(message.get("blocks") or [], deal_id, outcome),
        )

    def record_answer(user_id: str, deal_id: str, answer: str) -> None:
        with ctx.sessions.begin() as session:
            session.execute(
                update(NudgeRecord)
                .where(
                    NudgeRecord.slack_user == user_id,
                    NudgeRecord.deal_id == deal_id,
                    NudgeRecord.answered_at.is_(None),
                )
                .values(answered_at=ctx.clock(), answer=answer)
            )

    def button_outcome(
        verb: str, body: dict[str, Any], deal_id: str, client: WebClient, respond: Respond
    ) -> None:
        user_id = body["user"]["id"]
        reply = answer_button(ctx, user_id, verb, deal_id, None, source="nudge")
        if not reply.accepted:
            respond(text=reply.text, blocks=reply.blocks, replace_original=False, response_type="ephemeral")
            return
        ctx.wake_worker()
        record_answer(user_id, deal_id, verb)
        done = {"on_track": "✅ Still on track: noted in the CRM.", "mark_lost": "Marked lost in the CRM."}[
            verb
        ]
        update_message(client, body, deal_id, f"{done} ({ctx.crm_label})")

    def outcome_listener(verb: str) -> Callable[..., None]:
        def listener(
            ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
        ) -> None:
            ack()
            button_outcome(verb, body, action["value"], client, respond)

        return listener

    app.action(ON_TRACK)(outcome_listener("on_track"))
    app.action(MARK_LOST)(outcome_listener("mark_lost"))

    @app.action(UPDATE)
    def open_update(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        deal = ctx.desk.get(action["value"])
        if deal is None:
            respond(text=refusals.DEAL_GONE, replace_original=False, response_type="ephemeral")
            return
        view = blocks.update_modal(
            deal, ctx.desk.stage_options(deal.pipeline_id), {"deal_id": deal.id, "response_url": ""}
        )
        open_view(client, body, view, respond)
        record_answer(body["user"]["id"], deal.id, "update")

    @app.action(SNOOZE)
    def snooze(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        choice, _, deal_id = action["selected_option"]["value"].partition(":")
        user_id = body["user"]["id"]
        if choice == "date":
            message = body.get("message") or {}
            metadata = {
                "deal_id": deal_id,
                "channel": (body.get("container") or {}).get("channel_id", ""),
                "ts": message.get("ts", ""),
            }
            open_view(client, body, snooze_modal(metadata), respond)
            return
        actor = ctx.people.actor(user_id)
        now = ctx.clock()
        until = actor.local_now(now).date() + timedelta(days=int(choice))
        result = snooze_deal(ctx.sessions, ctx.desk, actor, deal_id, until=until, reason=None, now=now)
        if isinstance(result, Refused):
            respond(text=result.message, replace_original=False, response_type="ephemeral")
            return
        ctx.wake_worker()
        record_answer(user_id, deal_id, "snooze")
        update_message(client, body, deal_id, f"😴 Snoozed until {until:%a %d %b}.")

    @app.view(SNOOZE_MODAL)
    def snooze_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        metadata = metadata_of(view)
        values = view["state"]["values"]
        chosen = (values.get("until", {}).get("value") or {}).get("selected_date")
        reason = (values.get("reason", {}).get("value") or {}).get("value")
        if not chosen:
            ack(response_action="errors", errors={"until": "Pick a date."})
            return
        user_id = body["user"]["id"]
        actor = ctx.people.actor(user_id)
        result = snooze_deal(
            ctx.sessions,
            ctx.desk,
            actor,
            metadata.get("deal_id", ""),
            until=date.fromisoformat(chosen),
            reason=reason,
            now=ctx.clock(),
        )
        if isinstance(result, Refused):
            ack(response_action="errors", errors={"until": result.message[:150]})
            return
        ack()
        ctx.wake_worker()
        record_answer(user_id, metadata.get("deal_id", ""), "snooze")

    @app.action(MORE)
    def more(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        actor = ctx.people.actor(body["user"]["id"])
        now = ctx.clock()
        today = actor.local_now(now).date()
        deals = [
            d
            for d in ctx.desk.my_open_deals(actor)
            if d.is_stale(now, ctx.desk.stale_after_days, today=today)
        ]
        respond(
            blocks=blocks.deal_list(
                "All your deals that need a look", deals, now, today, ctx.desk.stale_after_days, ctx.command
            ),
            text="All your deals that need a look",
            replace_original=False,
            response_type="ephemeral",
        )


def snooze_modal(metadata: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": SNOOZE_MODAL,
        "private_metadata": json.dumps(metadata),
        "title": {"type": "plain_text", "text": "Snooze a deal"},
        "submit": {"type": "plain_text", "text": "Snooze"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "until",
                "label": {"type": "plain_text", "text": "Until"},
                "element": {"type": "datepicker", "action_id": "value"},
            },
            {
                "type": "input",
                "block_id": "reason",
                "optional": True,
                "label": {"type": "plain_text", "text": "Why? (logged as a note)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "max_length": 300,
                    "placeholder": {"type": "plain_text", "text": "e.g. waiting on legal"},
                },
            },
        ],
    }
