"""What Drumbeat answers to `/deal …`, a button or a picker: plain functions the listeners call.

They read the mirror and write the outbox (never the CRM), so they are fast enough to run before
Slack's acknowledgement; the outbox worker talks to the CRM afterwards.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from core.deals import refusals
from core.deals.desk import Accepted, DealView, Refused
from core.deals.grammar import DealCommand, ListMine, ParseError, ShowHelp, format_help, parse_command
from core.deals.permissions import NOT_LINKED
from core.models import PendingChoice
from core.people import Actor, LookupUnavailable
from handlers import blocks
from handlers.context import HandlerContext

ON_TRACK_NOTE = "Reviewed in Slack with Drumbeat: still on track."
CHOICE_TTL = timedelta(minutes=30)


@dataclass(frozen=True)
class Reply:
    """An ephemeral answer; `accepted` says an update was queued (wake the worker after acking)."""

    blocks: list[dict[str, Any]]
    text: str
    accepted: bool = False


def answer_command(
    ctx: HandlerContext, user_id: str, text: str, response_url: str | None, *, key: str | None = None
) -> Reply:
    """The answer to `/deal TEXT`; `key` makes a retried update store its change only once."""
    command = parse_command(text, aliases=ctx.aliases or {}, command=ctx.command)
    if isinstance(command, ShowHelp):
        usage = format_help(ctx.command, ctx.aliases or {})
        return Reply([blocks.mrkdwn(usage)], usage)
    if isinstance(command, ParseError):
        return _problem(f"{command.message}\nType `{ctx.command} help` for examples.")
    try:
        actor = ctx.people.actor(user_id)
    except LookupUnavailable:
        return _problem(
            "Slack didn't tell me who you are just now, so nothing was changed. Please try again."
        )
    now = ctx.clock()
    today = actor.local_now(now).date()
    stale = ctx.desk.stale_after_days
    if isinstance(command, ListMine):
        if not actor.is_linked:
            return _problem(NOT_LINKED)
        mine = ctx.desk.my_open_deals(actor)
        if not mine:
            return Reply([blocks.mrkdwn("You have no open deals right now. 🎉")], "You have no open deals.")
        title = f"Your open deals ({len(mine)}), most urgent first"
        return Reply(blocks.deal_list(title, mine, now, today, stale, ctx.command), title)
    assert isinstance(command, DealCommand)
    matches = ctx.desk.find(command.query)
    if not matches:
        return _problem(
            f"No deal matches *{blocks.escape(command.query)}*. "
            f"Try fewer words, or `{ctx.command}` to list yours."
        )
    if len(matches) > 1:
        choice_id = None
        if not command.is_search:
            choice_id = _remember_choice(ctx, user_id, text)
        return Reply(
            blocks.picker(command.query, matches, choice_id=choice_id, writes_pending=not command.is_search),
            f"Several deals match {command.query}",
        )
    deal = matches[0]
    if command.is_search:
        return Reply(blocks.deal_card(deal, now, today, stale), deal.name)
    return _accept(ctx, actor, deal, list(command.changes), command.note, "slash", response_url, key=key)


def needs_inbox(ctx: HandlerContext, text: str) -> bool:
    """Updates and notes are stored as typed and worked out after the ack; help, lists and searches
    are answered in the ack itself."""
    command = parse_command(text, aliases=ctx.aliases or {}, command=ctx.command)
    return isinstance(command, DealCommand) and not command.is_search


def answer_pick(
    ctx: HandlerContext, user_id: str, block_id: str, deal_id: str, response_url: str | None
) -> Reply:
    """A deal chosen from a picker: show its card, or apply the update that was waiting for it."""
    choice_id = block_id.removeprefix("pick:")
    deal = ctx.desk.get(deal_id)
    if deal is None:
        return _problem(refusals.DEAL_GONE)
    if choice_id == "search":
        actor = ctx.people.actor(user_id)
        now = ctx.clock()
        return Reply(
            blocks.deal_card(deal, now, actor.local_now(now).date(), ctx.desk.stale_after_days), deal.name
        )
    with ctx.sessions.begin() as session:
        pending = session.get(PendingChoice, choice_id)
        if pending is not None:
            session.delete(pending)
    if pending is None or pending.slack_user != user_id or ctx.clock() - pending.created_at > CHOICE_TTL:
        return _problem(f"That choice has expired. Run your `{ctx.command}` command again.")
    command = parse_command(pending.command_text, aliases=ctx.aliases or {}, command=ctx.command)
    if not isinstance(command, DealCommand):
        return _problem(f"That choice has expired. Run your `{ctx.command}` command again.")
    actor = ctx.people.actor(user_id)
    return _accept(ctx, actor, deal, list(command.changes), command.note, "slash", response_url)


def answer_button(
    ctx: HandlerContext,
    user_id: str,
    verb: str,
    deal_id: str,
    response_url: str | None,
    *,
    source: str = "button",
) -> Reply:
    """Still on track, Mark lost or Show card, from a card, a list or a nudge."""
    deal = ctx.desk.get(deal_id)
    if deal is None:
        return _problem(refusals.DEAL_GONE)
    if verb == "card":
        actor = ctx.people.actor(user_id)
        now = ctx.clock()
        return Reply(
            blocks.deal_card(deal, now, actor.local_now(now).date(), ctx.desk.stale_after_days), deal.name
        )
    if verb == "on_track":
        return _accept(ctx, ctx.people.actor(user_id), deal, [], ON_TRACK_NOTE, source, response_url)
    if verb == "mark_lost":
        if deal.is_closed:
            return _problem(
                refusals.already_closed(blocks.escape(deal.name), blocks.escape(deal.stage_label))
            )
        lost = ctx.desk.closed_lost_stage(deal.pipeline_id)
        if lost is None:
            return _problem(f"The {blocks.escape(deal.pipeline_label)} pipeline has no closed-lost stage.")
        return _accept(ctx, ctx.people.actor(user_id), deal, [("stage", lost.id)], None, source, response_url)
    return _problem("I don't know that button.")


def accept_from_modal(
    ctx: HandlerContext,
    user_id: str,
    deal: DealView,
    changes: list[tuple[str, str]],
    note: str | None,
    response_url: str | None,
) -> Accepted | Refused:
    actor = ctx.people.actor(user_id)
    return ctx.desk.accept(actor, deal, changes, note, source="modal", response_url=response_url)


def _accept(
    ctx: HandlerContext,
    actor: Actor,
    deal: DealView,
    changes: list[tuple[str, str]],
    note: str | None,
    source: str,
    response_url: str | None,
    *,
    key: str | None = None,
) -> Reply:
    result = ctx.desk.accept(
        actor, deal, changes, note, source=source, response_url=response_url, idempotency_key=key
    )
    if isinstance(result, Refused):
        return _problem(result.message)
    return Reply(
        blocks.accepted(result, ctx.crm_label), f"Saving to {ctx.crm_label}: {deal.name}", accepted=True
    )


def _remember_choice(ctx: HandlerContext, user_id: str, text: str) -> str:
    choice_id = secrets.token_hex(8)
    now = ctx.clock()
    with ctx.sessions.begin() as session:
        session.execute(delete(PendingChoice).where(PendingChoice.created_at < now - CHOICE_TTL))
        session.add(PendingChoice(id=choice_id, slack_user=user_id, command_text=text, created_at=now))
    return choice_id


def _problem(message: str) -> Reply:
    return Reply(blocks.problem(message), message)
