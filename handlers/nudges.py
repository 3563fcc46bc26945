"""Nudge DMs: how they read, and their buttons. A click updates the message in place."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from core.deals.commands import Accepted, DealCommands, Outcome, control_problem
from core.deals.nudge_answers import NudgeAnswers, Snoozed
from core.i18n import N_, Translator
from handlers import blocks
from handlers.actions import metadata_of, open_form, open_view
from handlers.payloads import BAD_BUTTON, deal_id_in, option_value, picked_date, snooze_days
from handlers.replies import ack_form, deal_list, reply_to
from rituals.engine import NudgeMessage

ON_TRACK, UPDATE, SNOOZE, MARK_LOST, MORE = (
    "nudge.on_track",
    "nudge.update",
    "nudge.snooze",
    "nudge.mark_lost",
    "nudge.more",
)
SNOOZE_MODAL = "nudge.snooze_modal"
PICK_A_DATE = N_("Pick a date on the calendar.")
REASON_CONTROL = N_(
    "The reason has a control character ({found}) that can't be saved; remove it and send again."
)


def render_nudge(message: NudgeMessage, *, t: Translator) -> tuple[str, list[dict[str, Any]]]:
    """Short, friendly, never blaming: progress first, then what needs a look, each with its buttons."""
    n = len(message.items) + message.more
    if message.kind == "stale_deals":
        intro = t.n_(
            "Hi {name}! {fresh} of your {open} open deals are fresh — {n} needs a look.",
            "Hi {name}! {fresh} of your {open} open deals are fresh — {n} need a look.",
            n,
            name=message.first_name,
            fresh=t.number(message.fresh_count),
            open=t.number(message.open_count),
        )
        if message.streak:
            streak = t.n_("You're on a {n}-week streak 🔥", "You're on a {n}-week streak 🔥", message.streak)
            intro += f" {streak}"
    else:
        intro = t.n_(
            "Hi {name}, a few details to tidy up on {n} deal:",
            "Hi {name}, a few details to tidy up on {n} deals:",
            n,
            name=message.first_name,
        )
    out: list[dict[str, Any]] = [blocks.mrkdwn(intro)]
    for item in message.items:
        deal = item.deal
        amount = t.money(deal.amount, deal.currency)
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
                            blocks.button(t._("Still on track"), ON_TRACK, deal.id, "primary"),
                            blocks.button(t._("Update…"), UPDATE, deal.id),
                        ]
                        if message.kind == "stale_deals"
                        else [blocks.button(t._("Update…"), UPDATE, deal.id, "primary")]
                    ),
                    {
                        "type": "static_select",
                        "action_id": SNOOZE,
                        "placeholder": {"type": "plain_text", "text": t._("Snooze")},
                        "options": [
                            *(
                                blocks.option(t.n_("{n} day", "{n} days", d), f"{d}:{deal.id}")
                                for d in message.snooze_days
                            ),
                            blocks.option(t._("Until a date…"), f"date:{deal.id}"),
                        ],
                    },
                    blocks.mark_lost_button(deal.id, deal.name, MARK_LOST, t=t),
                ],
            }
        )
    if message.more:
        out.append(
            {
                "type": "actions",
                "block_id": "nudge-more",
                "elements": [
                    blocks.button(
                        t.n_("See the other {n}", "See the other {n}", message.more), MORE, message.ritual_id
                    )
                ],
            }
        )
    out.append(blocks.context(t._("One click answers; everything goes straight to the CRM.")))
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


def register(app: App, deals: DealCommands, answers: NudgeAnswers) -> None:
    def answer(
        verb: str,
        deal_id: str,
        outcome: Outcome | Snoozed,
        body: dict[str, Any],
        client: WebClient,
        respond: Respond,
    ) -> None:
        """A stored answer replaces the deal's buttons in the nudge; anything else is said aside."""
        t = deals.reader(body["user"]["id"])
        if isinstance(outcome, (Accepted, Snoozed)):
            deals.wake_worker()
            update_message(client, body, deal_id, outcome_line(verb, outcome, deals.crm_label, t=t))
            return
        reply = reply_to(outcome, deals, t=t)
        content = None if verb == "snooze" else reply.blocks  # a refused snooze reads as plain text
        respond(text=reply.text, blocks=content, replace_original=False, response_type="ephemeral")

    def outcome_listener(verb: str) -> Callable[..., None]:
        def listener(
            ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
        ) -> None:
            ack()
            deal_id = deal_id_in(action.get("value"))
            if deal_id is None:
                bad = deals.reader(body["user"]["id"])._(BAD_BUTTON)
                respond(text=bad, replace_original=False, response_type="ephemeral")
                return
            answer(verb, deal_id, answers.button(body["user"]["id"], verb, deal_id), body, client, respond)

        return listener

    app.action(ON_TRACK)(outcome_listener("on_track"))
    app.action(MARK_LOST)(outcome_listener("mark_lost"))

    @app.action(UPDATE)
    def open_update(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        user_id = body["user"]["id"]
        t = deals.reader(user_id)
        deal_id = deal_id_in(action.get("value"))
        if deal_id is None:
            respond(text=t._(BAD_BUTTON), replace_original=False, response_type="ephemeral")
            return
        form = answers.open_update(user_id, deal_id)
        open_form(client, body, "update", form, respond, response_url="", t=t)

    @app.action(SNOOZE)
    def snooze(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        t = deals.reader(body["user"]["id"])
        choice, _, value = option_value(action).partition(":")
        deal_id, days = deal_id_in(value), snooze_days(choice)
        if deal_id is None or (choice != "date" and days is None):
            respond(text=t._(BAD_BUTTON), replace_original=False, response_type="ephemeral")
        elif days is None:
            open_view(client, body, snooze_modal(snooze_metadata(body, deal_id), t=t), respond, t=t)
        else:
            outcome = answers.snooze_for(body["user"]["id"], deal_id, days)
            answer("snooze", deal_id, outcome, body, client, respond)

    @app.view(SNOOZE_MODAL)
    def snooze_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        values = view["state"]["values"]
        chosen = picked_date((values.get("until", {}).get("value") or {}).get("selected_date"))
        reason = (values.get("reason", {}).get("value") or {}).get("value")
        t = deals.reader(body["user"]["id"])
        problem = control_problem(reason or "", REASON_CONTROL, t=t)
        if chosen is None or problem is not None:
            ack(
                response_action="errors",
                errors={"reason": problem} if problem else {"until": t._(PICK_A_DATE)},
            )
            return
        deal_id = metadata_of(view).get("deal_id", "")
        outcome = answers.snooze_until(body["user"]["id"], deal_id, chosen, reason=reason)
        ack_form(ack, outcome, field="until")
        if isinstance(outcome, Snoozed):
            deals.wake_worker()

    @app.action(MORE)
    def more(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        t = deals.reader(body["user"]["id"])
        title = t._("All your deals that need a look")
        content = deal_list(title, answers.stale_deals(body["user"]["id"]), deals, t=t)
        respond(blocks=content, text=title, replace_original=False, response_type="ephemeral")


DONE = {
    "on_track": N_("✅ Still on track: noted in the CRM. ({crm})"),
    "mark_lost": N_("Marked lost in the CRM. ({crm})"),
}


def outcome_line(verb: str, outcome: Accepted | Snoozed, crm_label: str, *, t: Translator) -> str:
    """What replaces a deal's buttons in the nudge once the answer is stored."""
    if isinstance(outcome, Snoozed):
        return t._("😴 Snoozed until {date}.", date=t.day(outcome.until))
    return t._(DONE[verb], crm=crm_label)


def update_message(client: WebClient, body: dict[str, Any], deal_id: str, outcome: str) -> None:
    """Replace the answered deal's buttons in the nudge the person clicked."""
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


def snooze_metadata(body: dict[str, Any], deal_id: str) -> dict[str, str]:
    """Where the snooze modal's nudge is, for its private metadata."""
    return {
        "deal_id": deal_id,
        "channel": (body.get("container") or {}).get("channel_id", ""),
        "ts": (body.get("message") or {}).get("ts", ""),
    }


def snooze_modal(metadata: dict[str, str], *, t: Translator) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": SNOOZE_MODAL,
        "private_metadata": json.dumps(metadata),
        "title": {"type": "plain_text", "text": t._("Snooze a deal")},
        "submit": {"type": "plain_text", "text": t._("Snooze")},
        "close": {"type": "plain_text", "text": t._("Cancel")},
        "blocks": [
            {
                "type": "input",
                "block_id": "until",
                "label": {"type": "plain_text", "text": t._("Until")},
                "element": {"type": "datepicker", "action_id": "value"},
            },
            {
                "type": "input",
                "block_id": "reason",
                "optional": True,
                "label": {"type": "plain_text", "text": t._("Why? (logged as a note)")},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "max_length": 300,
                    "placeholder": {"type": "plain_text", "text": t._("e.g. waiting on legal")},
                },
            },
        ],
    }
