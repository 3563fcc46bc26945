"""The pipeline digest's figures: open pipeline by stage, what changed since N days ago, and the deals
that need a decision this week. Plain data out; no Slack import.

Built for big portals: totals are SQL aggregates over the mirror, and changes come only from the
deals the history says moved since the comparison point (see bot.history), so a digest over
100,000 deals reads a few thousand rows, not all of them. Amounts are grouped per currency and
never added across currencies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from bot.deals.reviews import drumbeat_changes
from bot.formatting import format_date, format_money
from bot.history import DealState, history_start, states_at
from bot.mirror import PipelineSummary, pipeline_summaries
from bot.models import AuditEntry, DealHistory, MirrorDeal, MirrorOwner, MirrorPipeline, MirrorStage, Snooze
from rituals.kinds import SnoozeInfo, last_review

__all__ = [
    "CLOSING_SOON_DAYS",
    "ChangeGroup",
    "CurrencyTotal",
    "DealChange",
    "DealScope",
    "DecisionDeal",
    "Decisions",
    "PipelineDigest",
    "PipelineTotals",
    "StageTotal",
    "build_digest",
    "changes_since",
    "currency_totals",
    "needs_decision",
    "scope_for",
]

CLOSING_SOON_DAYS = 14
DECISIONS_KEPT = 200  # listed (main message and thread); the rest are counted
CHANGE_KINDS = ("new", "forward", "back", "won", "lost", "slipped", "amount")
CHANGE_TITLES = {
    "new": "New deals",
    "forward": "Moved forward",
    "back": "Moved back",
    "won": "Won",
    "lost": "Lost",
    "slipped": "Close dates slipped",
    "amount": "Biggest amount changes",
}
REASON_PAST_CLOSE = "past close date"
REASON_NO_NEXT_STEP = "closing soon, no next step"
REASON_STALE = "stale"


# --------------------------------------------------------------------------------------------
# What the digest is about


@dataclass(frozen=True, slots=True)
class DealScope:
    """Which deals a report covers: None means no restriction on that axis."""

    pipeline_ids: frozenset[str] | None = None
    owner_ids: frozenset[str] | None = None

    def where(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.pipeline_ids is not None:
            conditions.append(MirrorDeal.pipeline_id.in_(sorted(self.pipeline_ids)))
        if self.owner_ids is not None:
            conditions.append(MirrorDeal.owner_id.in_(sorted(self.owner_ids)))
        return conditions

    def covers(self, pipeline_id: str, owner_id: str | None) -> bool:
        return (self.pipeline_ids is None or pipeline_id in self.pipeline_ids) and (
            self.owner_ids is None or owner_id in self.owner_ids
        )


def scope_for(
    session: Session,
    *,
    pipelines: Iterable[str] | None = None,
    owners: Iterable[str] | None = None,
    teams: Iterable[str] | None = None,
) -> DealScope:
    """Pipelines by id or label; owners by id or email and teams by id or name together name the
    owners covered (either one matching is enough)."""
    pipeline_ids: frozenset[str] | None = None
    if pipelines is not None:
        wanted = {p.lower() for p in pipelines}
        pipeline_ids = frozenset(
            p.id for p in session.scalars(select(MirrorPipeline)) if {p.id.lower(), p.label.lower()} & wanted
        )
    owner_ids: frozenset[str] | None = None
    if owners is not None or teams is not None:
        owner_keys = {o.lower() for o in owners or ()}
        team_keys = {t.lower() for t in teams or ()}
        found = set()
        for owner in session.scalars(select(MirrorOwner)):
            names = {owner.id.lower(), (owner.email or "").lower()}
            team_names = {str(t.get(k, "")).lower() for t in owner.teams or [] for k in ("id", "name")}
            if names & owner_keys or team_names & team_keys:
                found.add(owner.id)
        owner_ids = frozenset(found | {o for o in owners or () if "@" not in o})
    return DealScope(pipeline_ids, owner_ids)


# --------------------------------------------------------------------------------------------
# The digest's data


@dataclass(frozen=True, slots=True)
class StageTotal:
    stage_id: str
    label: str
    probability: float | None
    deals: int
    amount: Decimal
    weighted: Decimal
    deals_before: int
    amount_before: Decimal


@dataclass(frozen=True, slots=True)
class PipelineTotals:
    pipeline_id: str
    label: str
    currency: str | None
    stages: list[StageTotal]

    @property
    def deals(self) -> int:
        return sum(s.deals for s in self.stages)

    @property
    def amount(self) -> Decimal:
        return sum((s.amount for s in self.stages), Decimal(0))

    @property
    def weighted(self) -> Decimal:
        return sum((s.weighted for s in self.stages), Decimal(0))

    @property
    def deals_before(self) -> int:
        return sum(s.deals_before for s in self.stages)

    @property
    def amount_before(self) -> Decimal:
        return sum((s.amount_before for s in self.stages), Decimal(0))


@dataclass(frozen=True, slots=True)
class CurrencyTotal:
    currency: str | None
    deals: int
    amount: Decimal
    weighted: Decimal


@dataclass(frozen=True, slots=True)
class DealChange:
    deal_id: str
    name: str
    url: str
    owner_name: str
    pipeline_label: str
    amount: Decimal | None
    currency: str | None
    detail: str
    """What changed, readably: "Qualified → Contract sent", "30 Nov 2026 → 15 Jan 2027"."""
    delta: Decimal = Decimal(0)
    """For amount changes: now minus before (sorting)."""


@dataclass(frozen=True, slots=True)
class ChangeGroup:
    kind: str
    title: str
    deals: list[DealChange]
    totals: list[tuple[str | None, Decimal]]
    """Amount per currency (new, won and lost deals); empty for the others."""

    @property
    def count(self) -> int:
        return len(self.deals)


@dataclass(frozen=True, slots=True)
class DecisionDeal:
    deal_id: str
    name: str
    url: str
    owner_name: str
    amount: Decimal | None
    currency: str | None
    close_date: date | None
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decisions:
    deals: list[DecisionDeal]
    """The most valuable first, at most DECISIONS_KEPT."""
    total: int
    by_reason: dict[str, int]


@dataclass(frozen=True, slots=True)
class PipelineDigest:
    ritual_id: str
    as_of: datetime
    since: datetime | None
    """The comparison point, in the ritual's zone; None before any history exists."""
    compare_days: int
    history_note: str | None
    pipelines: list[PipelineTotals]
    totals: list[CurrencyTotal]
    changes: list[ChangeGroup]
    decisions: Decisions
    stale_after_days: int
    crm_label: str = "the CRM"
    warnings: list[str] = field(default_factory=list)

    @property
    def change_count(self) -> int:
        return sum(g.count for g in self.changes)


# --------------------------------------------------------------------------------------------
# Building it


@dataclass(frozen=True, slots=True)
class _Now:
    """What the mirror has of a changed deal now."""

    deal_id: str
    name: str
    owner_id: str | None
    pipeline_id: str
    stage_id: str
    amount: Decimal | None
    currency: str | None
    close_date: date | None
    is_closed: bool
    is_won: bool
    lost_reason: str | None
    created_at: datetime | None


def build_digest(
    session: Session,
    *,
    ritual_id: str,
    scope: DealScope,
    now: datetime,
    local_now: datetime,
    compare_days: int,
    stale_after_days: int,
    deal_url: Callable[[str], str],
    crm_label: str = "the CRM",
) -> PipelineDigest:
    """Everything the digest shows, as of `now` (aware; `local_now` is the same moment in the
    ritual's zone, whose date is "today")."""
    today = local_now.date()
    wanted = now - timedelta(days=compare_days)
    start = history_start(session)
    since = None if start is None else max(wanted, start)
    note = None
    if start is None:
        note = "No history yet: changes show from the next digest on."
    elif start > wanted:
        first_day = format_date(start.astimezone(local_now.tzinfo).date())
        note = f"History starts {first_day}: changes are since then."

    owners = _owner_names(session)
    current = [
        summary
        for summary in pipeline_summaries(session, where=scope.where())
        if scope.pipeline_ids is None or summary.pipeline_id in scope.pipeline_ids
    ]
    changes: list[ChangeGroup] = []
    adjustments: dict[tuple[str, str, str | None], tuple[int, Decimal]] = {}
    if since is not None:
        before, after = _before_and_after(session, scope, since)
        changes = _classify(
            session, before, after, since=since, today=today, owners=owners, deal_url=deal_url
        )
        adjustments = _baseline_adjustments(before, after)
    pipelines = [_with_baseline(summary, adjustments) for summary in current]
    decisions = needs_decision(
        session,
        scope,
        now=now,
        today=today,
        stale_after_days=stale_after_days,
        deal_url=deal_url,
        owners=owners,
    )
    return PipelineDigest(
        ritual_id=ritual_id,
        as_of=local_now,
        since=None if since is None else since.astimezone(local_now.tzinfo),
        compare_days=compare_days,
        history_note=note,
        pipelines=pipelines,
        totals=currency_totals(pipelines),
        changes=changes,
        decisions=decisions,
        stale_after_days=stale_after_days,
        crm_label=crm_label,
    )


def changes_since(
    session: Session, scope: DealScope, *, since: datetime, today: date, deal_url: Callable[[str], str]
) -> list[ChangeGroup]:
    """What changed in the scope since `since`, by kind (each kind present, maybe empty)."""
    before, after = _before_and_after(session, scope, since)
    owners = _owner_names(session)
    return _classify(session, before, after, since=since, today=today, owners=owners, deal_url=deal_url)


def _before_and_after(
    session: Session, scope: DealScope, since: datetime
) -> tuple[dict[str, DealState], dict[str, _Now]]:
    before = {k: v for k, v in states_at(session, since).items() if scope.covers(v.pipeline_id, v.owner_id)}
    return before, _changed_now(session, since, scope)


def _owner_names(session: Session) -> dict[str, str]:
    return {
        o.id: f"{o.first_name} {o.last_name}".strip() or o.email or o.id
        for o in session.scalars(select(MirrorOwner))
    }


def _changed_now(session: Session, since: datetime, scope: DealScope) -> dict[str, _Now]:
    changed = select(DealHistory.deal_id).where(DealHistory.valid_from > since)
    rows = session.execute(
        select(
            MirrorDeal.id,
            MirrorDeal.name,
            MirrorDeal.owner_id,
            MirrorDeal.pipeline_id,
            MirrorDeal.stage_id,
            MirrorDeal.amount,
            MirrorDeal.currency,
            MirrorDeal.close_date,
            MirrorDeal.is_closed,
            MirrorDeal.is_won,
            MirrorDeal.closed_lost_reason,
            MirrorDeal.created_at,
        ).where(MirrorDeal.id.in_(changed), *scope.where())
    )
    return {
        deal_id: _Now(deal_id, *rest)
        for deal_id, *rest in rows  # the columns above, in _Now's order
    }


def _classify(
    session: Session,
    before: dict[str, DealState],
    after: dict[str, _Now],
    *,
    since: datetime,
    today: date,
    owners: dict[str, str],
    deal_url: Callable[[str], str],
) -> list[ChangeGroup]:
    stages = {(s.pipeline_id, s.id): s for s in session.scalars(select(MirrorStage))}
    pipeline_labels = dict(session.execute(select(MirrorPipeline.id, MirrorPipeline.label)).all())
    found: dict[str, list[DealChange]] = defaultdict(list)

    def label(pipeline_id: str, stage_id: str) -> str:
        stage = stages.get((pipeline_id, stage_id))
        return stage.label if stage else stage_id

    def order(pipeline_id: str, stage_id: str) -> int:
        stage = stages.get((pipeline_id, stage_id))
        return stage.display_order if stage else 0

    for deal_id, now in after.items():
        then = before.get(deal_id)
        created_since = now.created_at is not None and now.created_at > since

        def change(detail: str, delta: Decimal = Decimal(0), *, now: _Now = now) -> DealChange:
            return DealChange(
                deal_id=now.deal_id,
                name=now.name,
                url=deal_url(now.deal_id),
                owner_name=owners.get(now.owner_id or "", "nobody"),
                pipeline_label=pipeline_labels.get(now.pipeline_id, now.pipeline_id),
                amount=now.amount,
                currency=now.currency,
                detail=detail,
                delta=delta,
            )

        if created_since:
            found["new"].append(change(label(now.pipeline_id, now.stage_id)))
        was_open = (then is not None and not then.is_closed) or (then is None and created_since)
        if now.is_closed and was_open:
            if now.is_won:
                found["won"].append(change(label(now.pipeline_id, now.stage_id)))
            else:
                found["lost"].append(change(now.lost_reason or "no reason given"))
            continue
        if then is None or now.is_closed:
            continue
        if then.is_closed:
            found["back"].append(change(f"reopened (was {label(then.pipeline_id, then.stage_id)})"))
        elif then.pipeline_id == now.pipeline_id and then.stage_id != now.stage_id:
            old, new = order(then.pipeline_id, then.stage_id), order(now.pipeline_id, now.stage_id)
            text = f"{label(then.pipeline_id, then.stage_id)} → {label(now.pipeline_id, now.stage_id)}"
            if new != old:
                found["forward" if new > old else "back"].append(change(text))
        if (
            then.close_date is not None
            and then.close_date <= today
            and (now.close_date is None or now.close_date > today)
        ):
            found["slipped"].append(change(f"{format_date(then.close_date)} → {format_date(now.close_date)}"))
        if then.amount != now.amount and not (then.amount is None and now.amount is None):
            delta = (now.amount or Decimal(0)) - (then.amount or Decimal(0))
            currency = now.currency
            text = f"{format_money(then.amount, currency)} → {format_money(now.amount, currency)}"
            found["amount"].append(change(text, delta))

    groups = []
    for kind in CHANGE_KINDS:
        deals = found.get(kind, [])
        if kind == "amount":
            deals.sort(key=lambda d: (-abs(d.delta), d.name.lower()))
        else:
            deals.sort(key=lambda d: (-(d.amount or 0), d.name.lower()))
        totals = _per_currency(deals) if kind in ("new", "won", "lost") else []
        groups.append(ChangeGroup(kind, CHANGE_TITLES[kind], deals, totals))
    return groups


def _per_currency(deals: Sequence[DealChange]) -> list[tuple[str | None, Decimal]]:
    sums: dict[str | None, Decimal] = defaultdict(Decimal)
    for deal in deals:
        sums[deal.currency] += deal.amount or Decimal(0)
    return sorted(sums.items(), key=lambda item: item[0] or "")


def _baseline_adjustments(
    before: dict[str, DealState], after: dict[str, _Now]
) -> dict[tuple[str, str, str | None], tuple[int, Decimal]]:
    """Stage totals then = totals now, minus the changed deals as they are, plus them as they were."""
    delta: dict[tuple[str, str, str | None], tuple[int, Decimal]] = {}

    def add(pipeline_id: str, stage_id: str, currency: str | None, amount: Decimal | None, sign: int) -> None:
        key = (pipeline_id, stage_id, currency)
        count, total = delta.get(key, (0, Decimal(0)))
        delta[key] = (count + sign, total + sign * (amount or Decimal(0)))

    for now in after.values():
        if not now.is_closed:
            add(now.pipeline_id, now.stage_id, now.currency, now.amount, -1)
    # Every deal in `before` changed since (or left the scope, or was deleted): it counts as it was.
    for then in before.values():
        if not then.is_closed:
            add(then.pipeline_id, then.stage_id, then.currency, then.amount, +1)
    return delta


def _with_baseline(
    summary: PipelineSummary, adjustments: dict[tuple[str, str, str | None], tuple[int, Decimal]]
) -> PipelineTotals:
    lines = []
    for line in summary.stages:
        count, amount = adjustments.get(
            (summary.pipeline_id, line.stage_id, summary.currency), (0, Decimal(0))
        )
        lines.append(
            StageTotal(
                stage_id=line.stage_id,
                label=line.label,
                probability=line.probability,
                deals=line.deals,
                amount=line.amount,
                weighted=line.weighted,
                deals_before=max(line.deals + count, 0),
                amount_before=line.amount + amount,
            )
        )
    return PipelineTotals(summary.pipeline_id, summary.label, summary.currency, lines)


class _Totals(Protocol):
    @property
    def currency(self) -> str | None: ...
    @property
    def deals(self) -> int: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def weighted(self) -> Decimal: ...


def currency_totals(pipelines: Sequence[_Totals]) -> list[CurrencyTotal]:
    """Open deals, amount and weighted amount per currency over pipelines (never across currencies)."""
    by_currency: dict[str | None, list[_Totals]] = defaultdict(list)
    for pipeline in pipelines:
        if pipeline.deals:
            by_currency[pipeline.currency].append(pipeline)
    return [
        CurrencyTotal(
            currency,
            sum(p.deals for p in group),
            sum((p.amount for p in group), Decimal(0)),
            sum((p.weighted for p in group), Decimal(0)),
        )
        for currency, group in sorted(by_currency.items(), key=lambda item: item[0] or "")
    ]


# --------------------------------------------------------------------------------------------
# Deals that need a decision


def needs_decision(
    session: Session,
    scope: DealScope,
    *,
    now: datetime,
    today: date,
    stale_after_days: int,
    deal_url: Callable[[str], str],
    owners: dict[str, str] | None = None,
    keep: int = DECISIONS_KEPT,
) -> Decisions:
    """Open deals past their close date, closing within 14 days with no next step, or stale.

    Stale follows the stale_deals ritual: no activity, no change by a person, none through Drumbeat
    for `stale_after_days`; a snoozed deal waits for its snooze to end (those few are worked out one
    by one, since a snooze's own note is not a review).
    """
    owners = owners if owners is not None else _owner_names(session)
    cutoff = now - timedelta(days=stale_after_days)
    soon = today + timedelta(days=CLOSING_SOON_DAYS)
    past = and_(MirrorDeal.close_date.is_not(None), MirrorDeal.close_date < today)
    closing_bare = and_(
        MirrorDeal.close_date >= today,
        MirrorDeal.close_date <= soon,
        or_(MirrorDeal.next_step.is_(None), func.trim(MirrorDeal.next_step) == ""),
    )
    untouched = and_(
        *(
            or_(column.is_(None), column < cutoff)
            for column in (MirrorDeal.last_activity_at, MirrorDeal.created_at, MirrorDeal.person_changed_at)
        )
    )
    changed_via_drumbeat = exists(
        select(AuditEntry.id).where(
            AuditEntry.deal_id == MirrorDeal.id, AuditEntry.field != "note", AuditEntry.at >= cutoff
        )
    )
    stale = and_(untouched, ~changed_via_drumbeat)
    snoozed = exists(select(Snooze.deal_id).where(Snooze.deal_id == MirrorDeal.id))
    base = [MirrorDeal.is_closed.is_(False), ~snoozed, *scope.where()]
    flags = (
        case((past, 1), else_=0),
        case((closing_bare, 1), else_=0),
        case((stale, 1), else_=0),
    )
    counts = session.execute(
        select(func.count(), *(func.coalesce(func.sum(f), 0) for f in flags)).where(
            *base, or_(past, closing_bare, stale)
        )
    ).one()
    total, n_past, n_bare, n_stale = (int(v) for v in counts)
    rows = session.execute(
        select(
            MirrorDeal.id,
            MirrorDeal.name,
            MirrorDeal.owner_id,
            MirrorDeal.amount,
            MirrorDeal.currency,
            MirrorDeal.close_date,
            *flags,
        )
        .where(*base, or_(past, closing_bare, stale))
        .order_by(MirrorDeal.amount.desc().nulls_last(), MirrorDeal.name)
        .limit(keep)
    )
    deals = [
        DecisionDeal(
            deal_id,
            name,
            deal_url(deal_id),
            owners.get(owner_id or "", "nobody"),
            amount,
            currency,
            close_date,
            _reasons(bool(f_past), bool(f_bare), bool(f_stale)),
        )
        for deal_id, name, owner_id, amount, currency, close_date, f_past, f_bare, f_stale in rows
    ]
    extra = _snoozed_decisions(session, scope, today=today, cutoff=cutoff, owners=owners, deal_url=deal_url)
    for deal in extra:
        n_past += REASON_PAST_CLOSE in deal.reasons
        n_bare += REASON_NO_NEXT_STEP in deal.reasons
        n_stale += REASON_STALE in deal.reasons
    deals = sorted([*deals, *extra], key=lambda d: (-(d.amount or 0), d.name))[:keep]
    by_reason = {REASON_PAST_CLOSE: n_past, REASON_NO_NEXT_STEP: n_bare, REASON_STALE: n_stale}
    return Decisions(deals, total + len(extra), by_reason)


def _reasons(past: bool, bare: bool, stale: bool) -> tuple[str, ...]:
    chosen = ((past, REASON_PAST_CLOSE), (bare, REASON_NO_NEXT_STEP), (stale, REASON_STALE))
    return tuple(reason for flag, reason in chosen if flag)


def _snoozed_decisions(
    session: Session,
    scope: DealScope,
    *,
    today: date,
    cutoff: datetime,
    owners: dict[str, str],
    deal_url: Callable[[str], str],
) -> list[DecisionDeal]:
    rows = session.execute(
        select(MirrorDeal, Snooze)
        .join(Snooze, Snooze.deal_id == MirrorDeal.id)
        .where(MirrorDeal.is_closed.is_(False), *scope.where())
    ).all()
    drumbeat = drumbeat_changes(session, [deal.id for deal, _ in rows])
    found = []
    for deal, snooze in rows:
        past = deal.close_date is not None and deal.close_date < today
        bare = (
            deal.close_date is not None
            and today <= deal.close_date <= today + timedelta(days=CLOSING_SOON_DAYS)
            and not (deal.next_step or "").strip()
        )
        stale = False
        if snooze.until <= today:
            info = SnoozeInfo(snooze.until, snooze.snoozed_at, snooze.touched_before)
            touched = last_review(deal, info, drumbeat.get(deal.id))
            stale = touched is None or touched < cutoff
        if past or bare or stale:
            found.append(
                DecisionDeal(
                    deal.id,
                    deal.name,
                    deal_url(deal.id),
                    owners.get(deal.owner_id or "", "nobody"),
                    deal.amount,
                    deal.currency,
                    deal.close_date,
                    _reasons(past, bare, stale),
                )
            )
    return found
