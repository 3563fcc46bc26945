"""What the stale_deals and hygiene rituals find, per deal owner. Plain data in, plain data out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.deals.desk import DealView
from core.deals.staleness import SnoozeInfo, last_review
from rituals.config import CloseDatePastRule, HygieneRitual, MissingFieldRule, StaleDealsRitual

# The mirrored deal properties a `missing` rule can check.
MISSING_CHECKS: dict[str, Callable[[DealView], bool]] = {
    "amount": lambda d: d.amount is None,
    "closedate": lambda d: d.close_date is None,
    "hs_next_step": lambda d: not d.next_step,
    "hubspot_owner_id": lambda d: d.owner_id is None,
}
FIELD_NAMES = {
    "amount": "amount",
    "closedate": "close date",
    "hs_next_step": "next step",
    "hubspot_owner_id": "owner",
}


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
    snoozes: Mapping[str, SnoozeInfo],
    changed_via_drumbeat: Mapping[str, datetime],
) -> dict[str, OwnerFindings]:
    """Per owner: their stale open deals, most valuable first; snoozed ones wait for the snooze to end."""
    threshold = timedelta(days=ritual.stale_after_days)
    by_owner: dict[str, list[DealView]] = defaultdict(list)
    for deal in deals:
        if deal.owner_id and not deal.is_closed:
            by_owner[deal.owner_id].append(deal)
    findings = {}
    for owner_id, owned in by_owner.items():
        today = today_for(owner_id)
        items: list[NudgeItem] = []
        fresh = 0
        for deal in owned:
            snooze = snoozes.get(deal.id)
            touched = last_review(deal, snooze, changed_via_drumbeat.get(deal.id))
            if touched is not None and now - touched < threshold:
                fresh += 1
                continue
            if snooze is not None and snooze.until > today:
                continue
            days = (now - touched).days if touched else None
            items.append(
                NudgeItem(deal, (f"untouched for {days} days" if days is not None else "never touched",))
            )
        items.sort(key=lambda i: (-(i.deal.amount or 0), i.deal.name.lower()))
        findings[owner_id] = OwnerFindings(owner_id, items, len(owned), fresh)
    return findings


def hygiene_findings(
    ritual: HygieneRitual,
    deals: Sequence[DealView],
    *,
    today_for: Callable[[str], date],
    stage_matches: Callable[[DealView, Sequence[str]], bool],
    snoozes: Mapping[str, SnoozeInfo],
) -> dict[str, OwnerFindings]:
    """Per owner: open deals breaking a rule, with every rule they break (snoozed deals wait)."""
    by_owner: dict[str, list[DealView]] = defaultdict(list)
    for deal in deals:
        if deal.owner_id and not deal.is_closed:
            by_owner[deal.owner_id].append(deal)
    findings = {}
    for owner_id, owned in by_owner.items():
        today = today_for(owner_id)
        items = []
        for deal in owned:
            snooze = snoozes.get(deal.id)
            if snooze is not None and snooze.until > today:
                continue
            reasons = []
            for rule in ritual.rules:
                if isinstance(rule, CloseDatePastRule):
                    if deal.close_date is not None and deal.close_date < today:
                        reasons.append(f"close date {deal.close_date:%d %b} has passed")
                elif isinstance(rule, MissingFieldRule):
                    check = MISSING_CHECKS.get(rule.field)
                    if check is None or (rule.stages and not stage_matches(deal, rule.stages)):
                        continue
                    if check(deal):
                        reasons.append(f"no {FIELD_NAMES.get(rule.field, rule.field)}")
            if reasons:
                items.append(NudgeItem(deal, tuple(reasons)))
        items.sort(key=lambda i: (-(i.deal.amount or 0), i.deal.name.lower()))
        findings[owner_id] = OwnerFindings(owner_id, items, len(owned), len(owned) - len(items))
    return findings
