"""What the stale_deals and hygiene rituals find, per deal owner. Plain data in, plain data out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from core.deals.attention import MISSING_CHECKS, untouched
from core.deals.desk import DealView
from core.i18n import Translator
from rituals.config import CloseDatePastRule, HygieneRitual, MissingFieldRule, StaleDealsRitual


@dataclass(frozen=True, slots=True)
class NudgeItem:
    deal: DealView
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OwnerFindings:
    owner_id: str
    items: list[NudgeItem]
    open_count: int
    fresh_count: int


def stale_findings(
    ritual: StaleDealsRitual,
    deals: Sequence[DealView],
    *,
    now: datetime,
    today_for: Callable[[str], date],
    t_for: Callable[[str], Translator],
) -> dict[str, OwnerFindings]:
    """Per owner: their stale open deals (the one rule: snoozed ones wait for the snooze to end),
    most valuable first, with why in the owner's language (`t_for`)."""
    by_owner: dict[str, list[DealView]] = defaultdict(list)
    for deal in deals:
        if deal.owner_id and not deal.is_closed:
            by_owner[deal.owner_id].append(deal)
    findings = {}
    for owner_id, owned in by_owner.items():
        today, t = today_for(owner_id), t_for(owner_id)
        items = [
            NudgeItem(deal, (untouched(deal.days_untouched(now), t=t),))
            for deal in owned
            if deal.is_stale(now, ritual.stale_after_days, today=today)
        ]
        items.sort(key=lambda i: (-(i.deal.amount or 0), i.deal.name.lower()))
        findings[owner_id] = OwnerFindings(owner_id, items, len(owned), len(owned) - len(items))
    return findings


def hygiene_findings(
    ritual: HygieneRitual,
    deals: Sequence[DealView],
    *,
    today_for: Callable[[str], date],
    t_for: Callable[[str], Translator],
    stage_matches: Callable[[DealView, Sequence[str]], bool],
) -> dict[str, OwnerFindings]:
    """Per owner: open deals breaking a rule, with every rule they break (snoozed deals wait), in
    the owner's language (`t_for`)."""
    by_owner: dict[str, list[DealView]] = defaultdict(list)
    for deal in deals:
        if deal.owner_id and not deal.is_closed:
            by_owner[deal.owner_id].append(deal)
    findings = {}
    for owner_id, owned in by_owner.items():
        today, t = today_for(owner_id), t_for(owner_id)
        items = []
        for deal in owned:
            if deal.snoozed_until is not None and deal.snoozed_until > today:
                continue
            reasons = []
            for rule in ritual.rules:
                if isinstance(rule, CloseDatePastRule):
                    if deal.is_past_close(today) and deal.close_date is not None:
                        reasons.append(t._("close date {date} has passed", date=t.day_month(deal.close_date)))
                elif isinstance(rule, MissingFieldRule):
                    check = MISSING_CHECKS.get(rule.field)
                    if check is None or (rule.stages and not stage_matches(deal, rule.stages)):
                        continue
                    missing, lacks = check
                    if lacks(deal):
                        reasons.append(t._(missing))
            if reasons:
                items.append(NudgeItem(deal, tuple(reasons)))
        items.sort(key=lambda i: (-(i.deal.amount or 0), i.deal.name.lower()))
        findings[owner_id] = OwnerFindings(owner_id, items, len(owned), len(owned) - len(items))
    return findings
