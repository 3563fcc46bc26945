"""How a deal use case's outcome reads in Slack: ephemeral answers and the modals' inline errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_bolt import Ack

from core.deals import refusals
from core.deals.commands import (
    Accepted,
    AlreadyClosed,
    Card,
    Choose,
    DealCommands,
    DealList,
    FormProblems,
    NoLostStage,
    NoMatch,
    Outcome,
    Refused,
    Stored,
    Unchanged,
    Usage,
)
from core.deals.nudge_answers import Snoozed
from core.i18n import N_, Translator
from handlers import blocks

WORKING = N_("⏳ Working on it…")
ERROR_LIMIT = 150  # Slack's limit on a modal field's error


@dataclass(frozen=True)
class Reply:
    """An ephemeral answer; `accepted` says an update was queued (wake the worker after acking)."""

    blocks: list[dict[str, Any]]
    text: str
    accepted: bool = False


def reply_to(outcome: Outcome, deals: DealCommands, *, t: Translator) -> Reply:
    """The ephemeral answer for an outcome of `/deal`, a picker or a button, in `t`'s language
    (core has already written a refusal in the person's language)."""
    match outcome:
        case Accepted():
            content = blocks.accepted(outcome, deals.crm_label, t=t)
            text = t._("Saving to {crm}: {deal}", crm=deals.crm_label, deal=outcome.deal.name)
            return Reply(content, text, accepted=True)
        case Refused(message=message):
            return problem(message)
        case Usage(text=usage):
            return Reply([blocks.mrkdwn(usage)], usage)
        case Stored():
            return Reply([blocks.mrkdwn(t._(WORKING))], t._(WORKING))
        case DealList(deals=[]):
            return Reply(
                [blocks.mrkdwn(t._("You have no open deals right now. 🎉"))], t._("You have no open deals.")
            )
        case DealList():
            title = t._("Your open deals ({count}), most urgent first", count=t.number(len(outcome.deals)))
            return Reply(deal_list(title, outcome, deals, t=t), title)
        case Card(deal=deal):
            return Reply(
                blocks.deal_card(deal, outcome.now, outcome.today, outcome.stale_after_days, t=t), deal.name
            )
        case NoMatch(query=query):
            return problem(
                t._(
                    "No deal matches *{query}*. Try fewer words, or `{command}` to list yours.",
                    query=blocks.escape(query),
                    command=deals.command,
                )
            )
        case Choose(query=query, matches=matches, choice_id=choice_id):
            picker = blocks.picker(
                query, matches, choice_id=choice_id, writes_pending=choice_id is not None, t=t
            )
            return Reply(picker, t._("Several deals match {query}", query=query))
        case AlreadyClosed(deal=deal):
            return problem(
                refusals.already_closed(blocks.escape(deal.name), blocks.escape(deal.stage_label), t=t)
            )
        case NoLostStage(deal=deal):
            return problem(
                t._(
                    "The {pipeline} pipeline has no closed-lost stage.",
                    pipeline=blocks.escape(deal.pipeline_label),
                )
            )


def deal_list(title: str, outcome: DealList, deals: DealCommands, *, t: Translator) -> list[dict[str, Any]]:
    return blocks.deal_list(
        title, outcome.deals, outcome.now, outcome.today, outcome.stale_after_days, deals.command, t=t
    )


def choice_of(block_id: str) -> str | None:
    """The waiting update a picker carries in its block id (`pick:<id>`); None for a search's."""
    choice_id = block_id.removeprefix("pick:")
    return None if choice_id == "search" else choice_id


def ack_form(ack: Ack, outcome: Accepted | Snoozed | Refused | FormProblems, *, field: str) -> None:
    """Close the modal, or keep it open with the problem shown on a field (`field` by default)."""
    match outcome:
        case FormProblems(errors=errors):
            ack(response_action="errors", errors={f: m[:ERROR_LIMIT] for f, m in errors.items()})
        case Unchanged():
            ack()  # nothing edited: closing the modal is the answer
        case Refused(message=message):
            ack(response_action="errors", errors={field: message[:ERROR_LIMIT]})
        case Accepted() | Snoozed():
            ack()


def problem(message: str) -> Reply:
    return Reply(blocks.problem(message), message)
