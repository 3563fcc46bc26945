"""Block Kit surfaces: deal cards, lists, pickers, the update modal, receipts and App Home.

Pure functions from plain data to Slack JSON, kept inside Slack's limits (50 blocks a message,
100 a view, 3,000 characters a section, 75 a button or option text, 24 a modal title).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from core.deals.attention import needs_attention, untouched
from core.deals.desk import Accepted, DealView, FieldChange
from core.deals.fields import AMOUNT, CLOSE, FIELD_BY_NAME, NEXT, STAGE
from core.deals.values import StageOption
from core.formatting import format_date, format_money

Block = dict[str, Any]
MAX_LISTED = 15
SECTION_LIMIT = 3000

UPDATE, ON_TRACK, NOTE, MARK_LOST, MENU, PICK = (
    "deal.update",
    "deal.on_track",
    "deal.note",
    "deal.mark_lost",
    "deal.menu",
    "deal.pick",
)
UPDATE_MODAL, NOTE_MODAL = "deal.update_modal", "deal.note_modal"


def text(value: str, limit: int = SECTION_LIMIT) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def mrkdwn(value: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text(value)}}


def context(value: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text(value)}]}


def escape(value: str) -> str:
    """Slack's three control characters, so a deal name can't break the markup."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def deal_link(deal: DealView) -> str:
    return f"*<{deal.url}|{escape(deal.name)}>*"


def button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    made: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text(label, 75)},
        "action_id": action_id,
        "value": value,
    }
    if style:
        made["style"] = style
    return made


def mark_lost_button(deal_id: str, name: str, action_id: str = MARK_LOST) -> Block:
    """Mark lost, behind a confirm dialog: on deal cards and in nudges."""
    lost = button("Mark lost", action_id, deal_id, "danger")
    lost["confirm"] = {
        "title": {"type": "plain_text", "text": "Mark this deal lost?"},
        "text": {
            "type": "mrkdwn",
            "text": text(f"*{escape(name)}* moves to the closed-lost stage.", 300),
        },
        "confirm": {"type": "plain_text", "text": "Mark lost"},
        "deny": {"type": "plain_text", "text": "Keep it open"},
        "style": "danger",
    }
    return lost


def deal_status(deal: DealView, now: datetime, today: date, stale_after_days: int) -> str:
    parts = [escape(deal.stage_label), format_money(deal.amount, deal.currency)]
    if deal.close_date:
        when = format_date(deal.close_date)
        parts.append(
            f"closed {when}"
            if deal.is_closed
            else f"close date {when} has passed"
            if deal.is_past_close(today)
            else f"closes {when}"
        )
    looks = needs_attention(deal, now=now, today=today, stale_after_days=stale_after_days)
    if looks.stale:
        parts.append(untouched(looks.days_untouched))
    return " · ".join(parts)


def deal_card(deal: DealView, now: datetime, today: date, stale_after_days: int) -> list[Block]:
    days = deal.days_untouched(now)
    last = "never" if days is None else "today" if days == 0 else f"{days} day{'s' if days != 1 else ''} ago"
    fields = [
        ("Stage", escape(deal.stage_label)),
        ("Amount", format_money(deal.amount, deal.currency)),
        ("Close date", format_date(deal.close_date) + (" (passed)" if deal.is_past_close(today) else "")),
        ("Next step", escape(deal.next_step or "—")),
        ("Owner", escape(deal.owner_name)),
        ("Last activity", last),
    ]
    blocks: list[Block] = [
        mrkdwn(f"{deal_link(deal)}  ·  {escape(deal.pipeline_label)}"),
        {
            "type": "section",
            "block_id": f"card:{deal.id}",
            "fields": [{"type": "mrkdwn", "text": text(f"*{k}*\n{v}", 2000)} for k, v in fields],
        },
    ]
    actions = [button("Update…", UPDATE, deal.id, "primary"), button("Still on track", ON_TRACK, deal.id)]
    actions.append(button("Note…", NOTE, deal.id))
    if not deal.is_closed:
        actions.append(mark_lost_button(deal.id, deal.name))
    else:
        blocks.append(context(f"This deal is closed ({escape(deal.stage_label)})."))
    blocks.append({"type": "actions", "block_id": f"actions:{deal.id}", "elements": actions})
    return blocks


def deal_list(
    title: str, deals: Sequence[DealView], now: datetime, today: date, stale_after_days: int, command: str
) -> list[Block]:
    blocks: list[Block] = [mrkdwn(f"*{escape(title)}*")]
    for deal in deals[:MAX_LISTED]:
        blocks.append(
            {
                "type": "section",
                "block_id": f"row:{deal.id}",
                "text": {
                    "type": "mrkdwn",
                    "text": text(f"{deal_link(deal)}\n{deal_status(deal, now, today, stale_after_days)}"),
                },
                "accessory": {
                    "type": "overflow",
                    "action_id": MENU,
                    "options": [
                        option("Update…", f"update:{deal.id}"),
                        option("Still on track", f"on_track:{deal.id}"),
                        option("Note…", f"note:{deal.id}"),
                        option("Show card", f"card:{deal.id}"),
                    ],
                },
            }
        )
    if len(deals) > MAX_LISTED:
        blocks.append(
            context(f"…and {len(deals) - MAX_LISTED} more. Narrow it down with `{command} <name>`.")
        )
    return blocks


def option(label: str, value: str) -> Block:
    return {"text": {"type": "plain_text", "text": text(label, 75)}, "value": value[:150]}


def picker(
    query: str, deals: Sequence[DealView], *, choice_id: str | None, writes_pending: bool
) -> list[Block]:
    intro = (
        f"Several deals match *{escape(query)}*. Pick one and I'll apply your update to it:"
        if writes_pending
        else f"Several deals match *{escape(query)}*:"
    )
    options = [option(f"{d.name} ({d.stage_label})", d.id) for d in deals[:100]]
    blocks: list[Block] = [
        {
            "type": "section",
            "block_id": f"pick:{choice_id or 'search'}",
            "text": {"type": "mrkdwn", "text": text(intro)},
            "accessory": {
                "type": "static_select",
                "action_id": PICK,
                "placeholder": {"type": "plain_text", "text": "Choose a deal"},
                "options": options,
            },
        }
    ]
    if len(deals) > 100:
        blocks.append(context(f"Showing 100 of {len(deals)}: add a word to narrow it down."))
    if writes_pending:
        blocks.append(context("Nothing is written until you choose."))
    return blocks


def change_lines(changes: Sequence[FieldChange], note: str | None) -> str:
    lines = [f"• {c.label}: {escape(c.before)} → *{escape(c.after)}*" for c in changes]
    if note:
        lines.append(f"• Note: “{escape(note)}”")
    return "\n".join(lines)


def accepted(result: Accepted, crm_label: str) -> list[Block]:
    return [
        mrkdwn(
            f"⏳ Saving to {crm_label}: {deal_link(result.deal)}\n{change_lines(result.changes, result.note)}"
        ),
    ]


def done(deal: DealView, changes: Sequence[FieldChange], note: str | None, crm_label: str) -> list[Block]:
    return [mrkdwn(f"✅ Saved in {crm_label}: {deal_link(deal)}\n{change_lines(changes, note)}")]


def queued(deal_name: str, crm_label: str) -> list[Block]:
    return [
        mrkdwn(
            f"🕒 {crm_label} isn't answering right now, so your update to *{escape(deal_name)}* is queued. "
            "It's safe: I'll keep trying and confirm here once it's saved."
        )
    ]


def rejected(deal_name: str, reason: str, crm_label: str) -> list[Block]:
    return [
        mrkdwn(
            f"⚠️ {crm_label} didn't take your update to *{escape(deal_name)}*: {escape(reason)}\n"
            "Nothing was changed."
        )
    ]


def problem(message: str) -> list[Block]:
    return [mrkdwn(message)]


def update_modal(deal: DealView, stages: Sequence[StageOption], metadata: dict[str, str]) -> Block:
    stage_options = [option(s.label, s.id) for s in stages[:100]]
    current = next((o for o, s in zip(stage_options, stages, strict=False) if s.id == deal.stage_id), None)
    stage_select: Block = {"type": "static_select", "action_id": "value", "options": stage_options}
    if current is not None:
        stage_select["initial_option"] = current
    amount_input: Block = {
        "type": "plain_text_input",
        "action_id": "value",
        "placeholder": _plain("e.g. 12k or 12,500"),
    }
    if deal.amount is not None:
        amount_input["initial_value"] = format(deal.amount.normalize(), "f")
    close_input: Block = {"type": "datepicker", "action_id": "value"}
    if deal.close_date is not None:
        close_input["initial_date"] = deal.close_date.isoformat()
    next_input: Block = {"type": "plain_text_input", "action_id": "value", "max_length": 500}
    if deal.next_step:
        next_input["initial_value"] = deal.next_step[:500]
    return {
        "type": "modal",
        "callback_id": UPDATE_MODAL,
        "private_metadata": json.dumps(metadata)[:3000],
        "title": _plain("Update deal"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "blocks": [
            mrkdwn(
                f"{deal_link(deal)}\n{escape(deal.pipeline_label)} pipeline · owner {escape(deal.owner_name)}"
            ),
            _field_input(STAGE, stage_select, optional=False),
            _field_input(AMOUNT, amount_input),
            _field_input(CLOSE, close_input),
            _field_input(NEXT, next_input),
        ],
    }


def _field_input(field: str, element: Block, *, optional: bool = True) -> Block:
    """An editable field's input: its block id and label come from the field table."""
    known = FIELD_BY_NAME[field]
    made: Block = {"type": "input", "block_id": known.key, "label": _plain(known.label), "element": element}
    if optional:
        made["optional"] = True
    return made


def note_modal(deal: DealView, metadata: dict[str, str]) -> Block:
    return {
        "type": "modal",
        "callback_id": NOTE_MODAL,
        "private_metadata": json.dumps(metadata)[:3000],
        "title": _plain("Add a note"),
        "submit": _plain("Log note"),
        "close": _plain("Cancel"),
        "blocks": [
            mrkdwn(deal_link(deal)),
            {
                "type": "input",
                "block_id": "note",
                "label": _plain("Note"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": 3000,
                },
            },
        ],
    }


def home(
    *,
    linked: bool,
    not_linked_message: str,
    stages: Sequence[tuple[str, int, str]],
    attention: Sequence[tuple[DealView, str]],
    streak: int,
    open_count: int,
    fresh_count: int,
) -> Block:
    blocks: list[Block] = [{"type": "header", "text": _plain("Your pipeline")}]
    if not linked:
        blocks.append(mrkdwn(not_linked_message))
        return {"type": "home", "blocks": blocks}
    if open_count == 0:
        blocks.append(mrkdwn("You have no open deals right now."))
    else:
        fields = [
            {"type": "mrkdwn", "text": text(f"*{escape(label)}*\n{count} · {amount}", 2000)}
            for label, count, amount in stages
        ]
        for start in range(0, len(fields), 10):
            blocks.append({"type": "section", "fields": fields[start : start + 10]})
        blocks.append(context(f"{fresh_count} of {open_count} open deals are fresh."))
    if streak:
        blocks.append(
            mrkdwn(f"🔥 *{streak} week{'s' if streak != 1 else ''} in a row* with every open deal reviewed.")
        )
    blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": _plain("Needs a look")})
    if not attention:
        blocks.append(mrkdwn("Nothing! Every open deal is fresh, dated and priced. 🎉"))
    for deal, why in attention[:20]:
        blocks.append(
            {
                "type": "section",
                "block_id": f"home:{deal.id}",
                "text": {"type": "mrkdwn", "text": text(f"{deal_link(deal)}\n{why}")},
                "accessory": button("Update…", UPDATE, deal.id),
            }
        )
    if len(attention) > 20:
        blocks.append(context(f"…and {len(attention) - 20} more."))
    return {"type": "home", "blocks": blocks[:100]}


def _plain(value: str) -> Block:
    return {"type": "plain_text", "text": value}
