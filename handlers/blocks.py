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
from core.i18n import MISSING, Translator

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


def mark_lost_button(deal_id: str, name: str, action_id: str = MARK_LOST, *, t: Translator) -> Block:
    """Mark lost, behind a confirm dialog: on deal cards and in nudges."""
    lost = button(t._("Mark lost"), action_id, deal_id, "danger")
    lost["confirm"] = {
        "title": {"type": "plain_text", "text": t._("Mark this deal lost?")},
        "text": {
            "type": "mrkdwn",
            "text": text(t._("*{deal}* moves to the closed-lost stage.", deal=escape(name)), 300),
        },
        "confirm": {"type": "plain_text", "text": t._("Mark lost")},
        "deny": {"type": "plain_text", "text": t._("Keep it open")},
        "style": "danger",
    }
    return lost


def deal_status(deal: DealView, now: datetime, today: date, stale_after_days: int, *, t: Translator) -> str:
    parts = [escape(deal.stage_label), t.money(deal.amount, deal.currency)]
    if deal.close_date:
        when = t.date(deal.close_date)
        parts.append(
            t._("closed {date}", date=when)
            if deal.is_closed
            else t._("close date {date} has passed", date=when)
            if deal.is_past_close(today)
            else t._("closes {date}", date=when)
        )
    looks = needs_attention(deal, now=now, today=today, stale_after_days=stale_after_days)
    if looks.stale:
        parts.append(untouched(looks.days_untouched, t=t))
    return " · ".join(parts)


def deal_card(
    deal: DealView, now: datetime, today: date, stale_after_days: int, *, t: Translator
) -> list[Block]:
    days = deal.days_untouched(now)
    last = (
        t._("never")
        if days is None
        else t._("today")
        if days == 0
        else t.n_("{n} day ago", "{n} days ago", days)
    )
    close = t.date(deal.close_date)
    fields = [
        (t._("Stage"), escape(deal.stage_label)),
        (t._("Amount"), t.money(deal.amount, deal.currency)),
        (t._("Close date"), t._("{date} (passed)", date=close) if deal.is_past_close(today) else close),
        (t._("Next step"), escape(deal.next_step or MISSING)),
        (t._("Owner"), escape(deal.owner_name)),
        (t._("Last activity"), last),
    ]
    blocks: list[Block] = [
        mrkdwn(f"{deal_link(deal)}  ·  {escape(deal.pipeline_label)}"),
        {
            "type": "section",
            "block_id": f"card:{deal.id}",
            "fields": [{"type": "mrkdwn", "text": text(f"*{k}*\n{v}", 2000)} for k, v in fields],
        },
    ]
    actions = [
        button(t._("Update…"), UPDATE, deal.id, "primary"),
        button(t._("Still on track"), ON_TRACK, deal.id),
    ]
    actions.append(button(t._("Note…"), NOTE, deal.id))
    if not deal.is_closed:
        actions.append(mark_lost_button(deal.id, deal.name, t=t))
    else:
        blocks.append(context(t._("This deal is closed ({stage}).", stage=escape(deal.stage_label))))
    blocks.append({"type": "actions", "block_id": f"actions:{deal.id}", "elements": actions})
    return blocks


def deal_list(
    title: str,
    deals: Sequence[DealView],
    now: datetime,
    today: date,
    stale_after_days: int,
    command: str,
    *,
    t: Translator,
) -> list[Block]:
    blocks: list[Block] = [mrkdwn(f"*{escape(title)}*")]
    for deal in deals[:MAX_LISTED]:
        blocks.append(
            {
                "type": "section",
                "block_id": f"row:{deal.id}",
                "text": {
                    "type": "mrkdwn",
                    "text": text(
                        f"{deal_link(deal)}\n{deal_status(deal, now, today, stale_after_days, t=t)}"
                    ),
                },
                "accessory": {
                    "type": "overflow",
                    "action_id": MENU,
                    "options": [
                        option(t._("Update…"), f"update:{deal.id}"),
                        option(t._("Still on track"), f"on_track:{deal.id}"),
                        option(t._("Note…"), f"note:{deal.id}"),
                        option(t._("Show card"), f"card:{deal.id}"),
                    ],
                },
            }
        )
    if len(deals) > MAX_LISTED:
        more = len(deals) - MAX_LISTED
        blocks.append(
            context(
                t.n_(
                    "…and {n} more. Narrow it down with `{command} <name>`.",
                    "…and {n} more. Narrow it down with `{command} <name>`.",
                    more,
                    command=command,
                )
            )
        )
    return blocks


def option(label: str, value: str) -> Block:
    return {"text": {"type": "plain_text", "text": text(label, 75)}, "value": value[:150]}


def picker(
    query: str, deals: Sequence[DealView], *, choice_id: str | None, writes_pending: bool, t: Translator
) -> list[Block]:
    intro = (
        t._("Several deals match *{query}*. Pick one and I'll apply your update to it:", query=escape(query))
        if writes_pending
        else t._("Several deals match *{query}*:", query=escape(query))
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
                "placeholder": {"type": "plain_text", "text": t._("Choose a deal")},
                "options": options,
            },
        }
    ]
    if len(deals) > 100:
        blocks.append(
            context(t._("Showing 100 of {total}: add a word to narrow it down.", total=t.number(len(deals))))
        )
    if writes_pending:
        blocks.append(context(t._("Nothing is written until you choose.")))
    return blocks


def change_lines(changes: Sequence[FieldChange], note: str | None, *, t: Translator) -> str:
    """One line per field changed (labels and values already in the reader's language), then the note."""
    lines = [
        t._("• {field}: {before} → *{after}*", field=c.label, before=escape(c.before), after=escape(c.after))
        for c in changes
    ]
    if note:
        lines.append(t._("• Note: “{note}”", note=escape(note)))
    return "\n".join(lines)


def accepted(result: Accepted, crm_label: str, *, t: Translator) -> list[Block]:
    return [
        mrkdwn(
            t._("⏳ Saving to {crm}: {deal}", crm=crm_label, deal=deal_link(result.deal))
            + f"\n{change_lines(result.changes, result.note, t=t)}"
        ),
    ]


def done(
    deal: DealView, changes: Sequence[FieldChange], note: str | None, crm_label: str, *, t: Translator
) -> list[Block]:
    return [
        mrkdwn(
            t._("✅ Saved in {crm}: {deal}", crm=crm_label, deal=deal_link(deal))
            + f"\n{change_lines(changes, note, t=t)}"
        )
    ]


def queued(deal_name: str, crm_label: str, *, t: Translator) -> list[Block]:
    return [
        mrkdwn(
            t._(
                "🕒 {crm} isn't answering right now, so your update to *{deal}* is queued. "
                "It's safe: I'll keep trying and confirm here once it's saved.",
                crm=crm_label,
                deal=escape(deal_name),
            )
        )
    ]


def rejected(deal_name: str, reason: str, crm_label: str, *, t: Translator) -> list[Block]:
    return [
        mrkdwn(
            t._(
                "⚠️ {crm} didn't take your update to *{deal}*: {reason}\nNothing was changed.",
                crm=crm_label,
                deal=escape(deal_name),
                reason=escape(reason),
            )
        )
    ]


def problem(message: str) -> list[Block]:
    return [mrkdwn(message)]


def update_modal(
    deal: DealView, stages: Sequence[StageOption], metadata: dict[str, str], *, t: Translator
) -> Block:
    stage_options = [option(s.label, s.id) for s in stages[:100]]
    current = next((o for o, s in zip(stage_options, stages, strict=False) if s.id == deal.stage_id), None)
    stage_select: Block = {"type": "static_select", "action_id": "value", "options": stage_options}
    if current is not None:
        stage_select["initial_option"] = current
    amount_input: Block = {
        "type": "plain_text_input",
        "action_id": "value",
        "placeholder": _plain(t._("e.g. 12k or 12,500")),
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
        "title": _plain(t._("Update deal")),
        "submit": _plain(t._("Save")),
        "close": _plain(t._("Cancel")),
        "blocks": [
            mrkdwn(
                t._(
                    "{deal}\n{pipeline} pipeline · owner {owner}",
                    deal=deal_link(deal),
                    pipeline=escape(deal.pipeline_label),
                    owner=escape(deal.owner_name),
                )
            ),
            _field_input(STAGE, stage_select, optional=False, t=t),
            _field_input(AMOUNT, amount_input, t=t),
            _field_input(CLOSE, close_input, t=t),
            _field_input(NEXT, next_input, t=t),
        ],
    }


def _field_input(field: str, element: Block, *, optional: bool = True, t: Translator) -> Block:
    """An editable field's input: its block id and label come from the field table."""
    known = FIELD_BY_NAME[field]
    made: Block = {
        "type": "input",
        "block_id": known.key,
        "label": _plain(t._(known.label)),
        "element": element,
    }
    if optional:
        made["optional"] = True
    return made


def note_modal(deal: DealView, metadata: dict[str, str], *, t: Translator) -> Block:
    return {
        "type": "modal",
        "callback_id": NOTE_MODAL,
        "private_metadata": json.dumps(metadata)[:3000],
        "title": _plain(t._("Add a note")),
        "submit": _plain(t._("Log note")),
        "close": _plain(t._("Cancel")),
        "blocks": [
            mrkdwn(deal_link(deal)),
            {
                "type": "input",
                "block_id": "note",
                "label": _plain(t._("Note")),
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
    t: Translator,
) -> Block:
    blocks: list[Block] = [{"type": "header", "text": _plain(t._("Your pipeline"))}]
    if not linked:
        blocks.append(mrkdwn(not_linked_message))
        return {"type": "home", "blocks": blocks}
    if open_count == 0:
        blocks.append(mrkdwn(t._("You have no open deals right now.")))
    else:
        fields = [
            {"type": "mrkdwn", "text": text(f"*{escape(label)}*\n{t.number(count)} · {amount}", 2000)}
            for label, count, amount in stages
        ]
        for start in range(0, len(fields), 10):
            blocks.append({"type": "section", "fields": fields[start : start + 10]})
        blocks.append(
            context(
                t.n_(
                    "{fresh} of {n} open deal is fresh.",
                    "{fresh} of {n} open deals are fresh.",
                    open_count,
                    fresh=t.number(fresh_count),
                )
            )
        )
    if streak:
        blocks.append(
            mrkdwn(
                t.n_(
                    "🔥 *{n} week in a row* with every open deal reviewed.",
                    "🔥 *{n} weeks in a row* with every open deal reviewed.",
                    streak,
                )
            )
        )
    blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": _plain(t._("Needs a look"))})
    if not attention:
        blocks.append(mrkdwn(t._("Nothing! Every open deal is fresh, dated and priced. 🎉")))
    for deal, why in attention[:20]:
        blocks.append(
            {
                "type": "section",
                "block_id": f"home:{deal.id}",
                "text": {"type": "mrkdwn", "text": text(f"{deal_link(deal)}\n{why}")},
                "accessory": button(t._("Update…"), UPDATE, deal.id),
            }
        )
    if len(attention) > 20:
        blocks.append(context(t.n_("…and {n} more.", "…and {n} more.", len(attention) - 20)))
    return {"type": "home", "blocks": blocks[:100]}


def _plain(value: str) -> Block:
    return {"type": "plain_text", "text": value}
