"""1:1 prep: for a manager, one brief per direct report, with their open pipeline, what changed since
the last prep, the deals that are stale or at risk, and three questions drawn from the data.
Plain data in, plain data out; no Slack import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.deals.attention import untouched
from core.deals.desk import DealView
from core.i18n import N_, Translator
from rituals.digest import ChangeDetail, ChangeGroup, CurrencyTotal, closing_bare, describe

__all__ = ["FALLBACK_QUESTIONS", "PrepBrief", "PrepDeal", "prep_brief", "since_last_prep"]

FALLBACK_QUESTIONS = (
    N_("Which deal are you most confident about this month, and why?"),
    N_("Where could I help you move a deal forward this week?"),
    N_("Is there a deal we should stop spending time on?"),
)
SLIPPED_OFTEN = 2
LISTED = 8  # stale and at-risk deals listed per brief


@dataclass(frozen=True, slots=True)
class PrepDeal:
    deal_id: str
    name: str
    url: str
    stage_label: str
    amount: str
    """Formatted in the deal's currency, in the manager's language."""
    close_date: date | None
    flags: tuple[str, ...]
    """Why it is listed, in the manager's language: "untouched for 32 days", "past close date (12 Nov)"…"""


@dataclass(frozen=True, slots=True)
class PrepBrief:
    ritual_id: str
    manager_name: str
    rep_owner_id: str
    rep_name: str
    as_of: datetime
    since: datetime
    """The last prep for this ritual, or a week ago (in the ritual's zone)."""
    first_prep: bool
    open_deals: int
    pipeline: list[CurrencyTotal]
    changes: list[ChangeGroup]
    stale: list[PrepDeal]
    at_risk: list[PrepDeal]
    more_stale: int
    more_at_risk: int
    questions: list[str]
    """In the manager's language."""


def prep_brief(
    *,
    ritual_id: str,
    manager_name: str,
    rep_owner_id: str,
    rep_name: str,
    deals: Sequence[DealView],
    pushes: Mapping[str, int],
    changes: list[ChangeGroup],
    pipeline: list[CurrencyTotal],
    now: datetime,
    today: date,
    since: datetime,
    first_prep: bool,
    stale_after_days: int,
    t: Translator,
) -> PrepBrief:
    """`deals` are the rep's open deals, stale or not by the one rule (`DealView.is_stale`); `pushes`
    how often each close date was moved later (history); `t` is the manager's language."""
    moved_back = {d.deal_id: d.detail for g in changes if g.kind == "back" for d in g.deals}
    dropped = {
        d.deal_id: d.detail for g in changes if g.kind == "amount" and g.deals for d in g.deals if d.delta < 0
    }
    stale: list[tuple[DealView, int | None]] = []
    at_risk: list[tuple[DealView, list[str]]] = []
    for deal in deals:
        if deal.is_stale(now, stale_after_days, today=today):
            stale.append((deal, deal.days_untouched(now)))
        flags = []
        if deal.close_date is not None and deal.is_past_close(today):
            flags.append(t._("past close date ({day})", day=t.date(deal.close_date)))
        elif deal.close_date is not None and closing_bare(deal.close_date, deal.next_step, today):
            left = (deal.close_date - today).days
            flags.append(t.n_("closes in {n} day, no next step", "closes in {n} days, no next step", left))
        if pushes.get(deal.id, 0) >= SLIPPED_OFTEN:
            flags.append(t.n_("close date pushed {n} time", "close date pushed {n} times", pushes[deal.id]))
        if deal.id in moved_back:
            flags.append(t._("moved back: {change}", change=describe(moved_back[deal.id], t)))
        if deal.id in dropped:
            flags.append(t._("amount down: {change}", change=describe(dropped[deal.id], t)))
        if flags:
            at_risk.append((deal, flags))
    stale.sort(key=lambda item: (-(item[1] if item[1] is not None else 10_000), -(item[0].amount or 0)))
    at_risk.sort(key=lambda item: (-len(item[1]), -(item[0].amount or 0), item[0].name.lower()))
    stale_view = [_prep_deal(d, (untouched(days, t=t),), t) for d, days in stale]
    risk_view = [_prep_deal(d, tuple(flags), t) for d, flags in at_risk]
    return PrepBrief(
        ritual_id=ritual_id,
        manager_name=manager_name,
        rep_owner_id=rep_owner_id,
        rep_name=rep_name,
        as_of=now,
        since=since,
        first_prep=first_prep,
        open_deals=len(deals),
        pipeline=pipeline,
        changes=changes,
        stale=stale_view[:LISTED],
        at_risk=risk_view[:LISTED],
        more_stale=max(len(stale_view) - LISTED, 0),
        more_at_risk=max(len(risk_view) - LISTED, 0),
        questions=_questions(deals, stale, pushes, moved_back, dropped, changes, today, t),
    )


def _prep_deal(deal: DealView, flags: tuple[str, ...], t: Translator) -> PrepDeal:
    return PrepDeal(
        deal.id,
        deal.name,
        deal.url,
        deal.stage_label,
        t.money(deal.amount, deal.currency),
        deal.close_date,
        flags,
    )


def _questions(
    deals: Sequence[DealView],
    stale: Sequence[tuple[DealView, int | None]],
    pushes: Mapping[str, int],
    moved_back: Mapping[str, ChangeDetail],
    dropped: Mapping[str, ChangeDetail],
    changes: Sequence[ChangeGroup],
    today: date,
    t: Translator,
) -> list[str]:
    """Three questions, the most telling first, each about a different deal where the data allows."""
    by_value = sorted(deals, key=lambda d: (-(d.amount or 0), d.name.lower()))
    candidates: list[tuple[str, str]] = []  # (deal id, question)
    for deal in by_value:
        if pushes.get(deal.id, 0) >= SLIPPED_OFTEN:
            times = pushes[deal.id]
            question = (
                t._("{deal} slipped twice — what changed?", deal=deal.name)
                if times == 2
                else t._("{deal} slipped {times} times — what changed?", deal=deal.name, times=times)
            )
            candidates.append((deal.id, question))
    for deal in by_value:
        if deal.id in moved_back:
            change = describe(moved_back[deal.id], t)
            candidates.append(
                (deal.id, t._("{deal} moved back ({change}) — what happened?", deal=deal.name, change=change))
            )
    for deal in by_value:
        if deal.close_date is not None and deal.is_past_close(today):
            when = t.date(deal.close_date)
            candidates.append(
                (
                    deal.id,
                    t._(
                        "{deal} was due to close on {day} — new date, or is it lost?",
                        deal=deal.name,
                        day=when,
                    ),
                )
            )
    for deal in by_value:
        if deal.close_date is not None and closing_bare(deal.close_date, deal.next_step, today):
            left = (deal.close_date - today).days
            question = (
                t._("{deal} closes today with no next step — what has to happen first?", deal=deal.name)
                if left == 0
                else t.n_(
                    "{deal} closes in {n} day with no next step — what has to happen first?",
                    "{deal} closes in {n} days with no next step — what has to happen first?",
                    left,
                    deal=deal.name,
                )
            )
            candidates.append((deal.id, question))
    for deal, days in sorted(stale, key=lambda item: (-(item[0].amount or 0), item[0].name.lower())):
        question = (
            t._("{deal} has never been touched — is it still alive?", deal=deal.name)
            if days is None
            else t.n_(
                "{deal} has been quiet for {n} day — is it still alive?",
                "{deal} has been quiet for {n} days — is it still alive?",
                days,
                deal=deal.name,
            )
        )
        candidates.append((deal.id, question))
    for deal in by_value:
        if deal.id in dropped:
            change = describe(dropped[deal.id], t)
            candidates.append(
                (
                    deal.id,
                    t._(
                        "{deal}'s amount went {change} — what changed in scope?",
                        deal=deal.name,
                        change=change,
                    ),
                )
            )
    for group in changes:
        if group.kind == "won" and group.deals:
            won = group.deals[0]
            candidates.append(
                (won.deal_id, t._("{deal} was won — what made it work, and can we repeat it?", deal=won.name))
            )
    if by_value:
        top = by_value[0]
        amount = t.money(top.amount, top.currency)
        candidates.append(
            (
                top.id,
                t._(
                    "{deal} is the biggest open deal ({amount}) — what could stop it?",
                    deal=top.name,
                    amount=amount,
                ),
            )
        )

    questions: list[str] = []
    asked: set[str] = set()
    for deal_id, question in candidates:  # one question per deal first…
        if deal_id not in asked and len(questions) < 3:
            questions.append(question)
            asked.add(deal_id)
    for _, question in candidates:  # …then a second about the same deal, before the generic ones
        if question not in questions and len(questions) < 3:
            questions.append(question)
    for question in FALLBACK_QUESTIONS:
        if len(questions) < 3:
            questions.append(t._(question))
    return questions


def since_last_prep(last: datetime | None, now: datetime) -> tuple[datetime, bool]:
    """Changes are shown since the last prep; the first one looks back a week."""
    return (last, False) if last is not None else (now - timedelta(days=7), True)
