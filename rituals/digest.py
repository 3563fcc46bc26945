"""The pipeline digest's figures: open pipeline by stage, what changed since N days ago, and the deals
that need a decision this week. Plain data out; no Slack import.

Built for big portals: totals are SQL aggregates over the mirror, and changes come only from the
deals the history says moved since the comparison point (see core.mirror.history), so a digest over
100,000 deals reads a few thousand rows, not all of them. Amounts are grouped per currency and
never added across currencies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol, TypeAlias

from sqlalchemy import (
    CTE,
    Boolean,
    ColumnElement,
    CompoundSelect,
    Date,
    Float,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.types import TypeEngine

from core.deals.staleness import (
    SnoozeInfo,
    Touches,
    drumbeat_changed_at,
    is_stale,
    last_review,
    snooze_over,
    stale_cutoff,
    unreviewed_since,
)
from core.deals.values import named
from core.i18n import ENGLISH, N_, Translator
from core.mirror.history import history_start
from core.mirror.summary import PipelineSummary, StageKey, StageSums, open_stage_totals, pipeline_summaries
from core.models import DealHistory, MirrorDeal, MirrorOwner, MirrorPipeline, MirrorStage, Snooze
from integrations.sqltypes import Money, exact_money

__all__ = [
    "CLOSING_SOON_DAYS",
    "HISTORY_STARTS",
    "NOBODY",
    "NO_HISTORY",
    "AmountMove",
    "ChangeDetail",
    "ChangeGroup",
    "CurrencyTotal",
    "DateMove",
    "DealChange",
    "DealScope",
    "DecisionDeal",
    "DecisionRules",
    "Decisions",
    "PipelineDigest",
    "PipelineTotals",
    "StageMove",
    "StageTotal",
    "build_digest",
    "changes_since",
    "closing_bare",
    "currency_totals",
    "describe",
    "needs_decision",
    "scope_for",
]

CLOSING_SOON_DAYS = 14
DECISIONS_KEPT = 200  # listed (main message and thread); the rest are counted
CHANGES_KEPT = 200  # listed per kind of change (main message and thread); the rest are counted
CHANGE_KINDS = ("new", "forward", "back", "won", "lost", "slipped", "amount")
# English, as the catalog knows them: shown as `t._(group.title)`.
CHANGE_TITLES = {
    "new": N_("New deals"),
    "forward": N_("Moved forward"),
    "back": N_("Moved back"),
    "won": N_("Won"),
    "lost": N_("Lost"),
    "slipped": N_("Close dates slipped"),
    "amount": N_("Biggest amount changes"),
}
NO_HISTORY = N_("No history yet: changes show from the next digest on.")
HISTORY_STARTS = N_("History starts {day}: changes are since then.")
NOBODY = N_("nobody")  # a deal without an owner, shown as `t._(NOBODY)`
# Why a deal needs a decision: keys, and English as the catalog knows them (`t._(reason)`).
REASON_PAST_CLOSE = N_("past close date")
REASON_NO_NEXT_STEP = N_("closing soon, no next step")
REASON_STALE = N_("stale")


# --------------------------------------------------------------------------------------------
# What the digest is about


@dataclass(frozen=True, slots=True)
class DealScope:
    """Which deals a report covers: None means no restriction on that axis."""

    pipeline_ids: frozenset[str] | None = None
    owner_ids: frozenset[str] | None = None

    def where(
        self,
        pipeline_id: InstrumentedAttribute[str] = MirrorDeal.pipeline_id,
        owner_id: InstrumentedAttribute[str | None] = MirrorDeal.owner_id,
    ) -> list[ColumnElement[bool]]:
        """The scope as SQL, on the mirror's columns unless others (the history's) are given."""
        conditions: list[ColumnElement[bool]] = []
        if self.pipeline_ids is not None:
            conditions.append(pipeline_id.in_(sorted(self.pipeline_ids)))
        if self.owner_ids is not None:
            conditions.append(owner_id.in_(sorted(self.owner_ids)))
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
        wanted = list(pipelines)
        mirrored = session.scalars(select(MirrorPipeline))
        pipeline_ids = frozenset(p.id for p in mirrored if named(p.id, p.label, wanted))
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
class PipelineTotals(StageSums):
    pipeline_id: str
    label: str
    currency: str | None
    stages: list[StageTotal]

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
class StageMove:
    before: str
    after: str
    reopened: bool = False

    def text(self, t: Translator) -> str:
        if self.reopened:
            return t._("reopened (was {stage})", stage=self.before)
        return f"{self.before} → {self.after}"


@dataclass(frozen=True, slots=True)
class DateMove:
    before: date | None
    after: date | None

    def text(self, t: Translator) -> str:
        return f"{t.date(self.before)} → {t.date(self.after)}"


@dataclass(frozen=True, slots=True)
class AmountMove:
    before: Decimal | None
    after: Decimal | None
    currency: str | None

    def text(self, t: Translator) -> str:
        return f"{t.money(self.before, self.currency)} → {t.money(self.after, self.currency)}"


@dataclass(frozen=True, slots=True)
class NoReason:
    def text(self, t: Translator) -> str:
        return t._("no reason given")


ChangeDetail: TypeAlias = str | StageMove | DateMove | AmountMove | NoReason
"""What changed, in no language yet: a CRM value (a stage label, a lost reason) reads as it is."""


def describe(detail: ChangeDetail, t: Translator) -> str:
    """A change's detail in the reader's language."""
    return detail if isinstance(detail, str) else detail.text(t)


@dataclass(frozen=True, slots=True)
class DealChange:
    deal_id: str
    name: str
    url: str
    owner_name: str
    pipeline_label: str
    amount: Decimal | None
    currency: str | None
    detail: ChangeDetail
    """What changed: "Qualified → Contract sent", "30 Nov 2026 → 15 Jan 2027" once `describe`d."""
    delta: Decimal = Decimal(0)
    """For amount changes: now minus before (sorting)."""


@dataclass(frozen=True, slots=True)
class ChangeGroup:
    kind: str
    title: str
    """In English, as marked for the catalog: shown as `t._(title)`."""
    deals: list[DealChange]
    """The most telling first (largest amount, or largest change), at most CHANGES_KEPT."""
    totals: list[tuple[str | None, Decimal]]
    """Amount per currency (new, won and lost deals, all of them); empty for the others."""
    total: int | None = None
    """How many deals changed this way in all (None: as many as `deals`)."""

    @property
    def count(self) -> int:
        return len(self.deals) if self.total is None else self.total


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
    """Why changes do not go back `compare_days` (English, for logs; a reader's: NO_HISTORY or
    HISTORY_STARTS from `since`)."""
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
    history_retention: timedelta | None = None,
) -> PipelineDigest:
    """Everything the digest shows, as of `now` (aware; `local_now` is the same moment in the
    ritual's zone, whose date is "today"). Changes go back `compare_days`, or as far as the history
    does: to its first sync, and no further than `history_retention` keeps it."""
    today = local_now.date()
    wanted = now - timedelta(days=compare_days)
    start = history_start(session, now=now, retention=history_retention)
    since = None if start is None else max(wanted, start)
    note = None
    if start is None:
        note = ENGLISH._(NO_HISTORY)
    elif start > wanted:
        note = ENGLISH._(HISTORY_STARTS, day=ENGLISH.date(start.astimezone(local_now.tzinfo).date()))

    if session.get_bind().dialect.name == "postgresql":
        # PostgreSQL's JIT compiles these mid-sized scans for longer than they take to run.
        session.execute(text("SET LOCAL jit = off"))
    owners = _owner_names(session)
    rules = DecisionRules.at(now=now, today=today, stale_after_days=stale_after_days)
    # The scan for the stage totals also counts the deals needing a decision, by reason.
    per_stage = open_stage_totals(session, scope.where(), rules.counted)
    changes: list[ChangeGroup] = []
    adjustments: dict[StageKey, tuple[int, Decimal]] = {}
    if since is not None:
        changes, adjustments = _changes(
            session, scope, since=since, today=today, deal_url=deal_url, owners=owners
        )
    # A pipeline or currency with no open deals left still shows, with what it had then.
    totals = {key: per_stage.get(key, (0, Decimal(0), (0, 0))) for key in {*per_stage, *adjustments}}
    current = [
        summary
        for summary in pipeline_summaries(session, totals=totals)
        if scope.pipeline_ids is None or summary.pipeline_id in scope.pipeline_ids
    ]
    pipelines = [_with_baseline(summary, adjustments) for summary in current]
    decisions = needs_decision(
        session,
        scope,
        now=now,
        today=today,
        stale_after_days=stale_after_days,
        deal_url=deal_url,
        owners=owners,
        counted=tuple(map(sum, zip(*(extra for _, _, extra in per_stage.values()), strict=True))) or None,
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
    session: Session,
    scope: DealScope,
    *,
    since: datetime,
    today: date,
    deal_url: Callable[[str], str],
    owners: dict[str, str] | None = None,
) -> list[ChangeGroup]:
    """What changed in the scope since `since`, by kind (each kind present, maybe empty)."""
    return _changes(session, scope, since=since, today=today, deal_url=deal_url, owners=owners)[0]


_Adjustments = dict[StageKey, tuple[int, Decimal]]
"""What to add to today's stage totals for those at the comparison point: (deals, amount)."""


def _changes(
    session: Session,
    scope: DealScope,
    *,
    since: datetime,
    today: date,
    deal_url: Callable[[str], str],
    owners: dict[str, str] | None,
) -> tuple[list[ChangeGroup], _Adjustments]:
    """The deals the history says changed, classified in SQL (`_classified`): the database returns
    each kind's count and totals per currency and its CHANGES_KEPT most telling deals with their
    names, so Python reads only what the digest lists."""
    stages = {
        (pipeline_id, stage_id): (order, label)
        for pipeline_id, stage_id, order, label in session.execute(
            select(MirrorStage.pipeline_id, MirrorStage.id, MirrorStage.display_order, MirrorStage.label)
        ).all()
    }
    counts = dict.fromkeys(CHANGE_KINDS, 0)
    sums: dict[str, dict[str | None, Decimal]] = defaultdict(dict)
    # Stage totals then = totals now, less the changed deals as they are, plus every deal that has
    # changed since (or was deleted, or left the scope) as it was.
    adjustments: dict[StageKey, tuple[int, Decimal]] = {}
    owners = owners if owners is not None else _owner_names(session)
    listed: dict[str, list[DealChange]] = defaultdict(list)
    orders = tuple(sorted((key, order) for key, (order, _) in stages.items()))
    figures = _change_figures(scope, orders)
    # Read by key from mappings: a Row's attribute look-up costs ten times as much, over ~1,400 rows.
    for row in session.execute(figures, {"since": since, "today": today}).mappings().all():
        part = row["part"]
        if part == "top":
            kind, deal_id = row["kind"], row["deal_id"]
            detail, delta = _change_detail(kind, row, stages)
            listed[kind].append(
                DealChange(
                    deal_id=deal_id,
                    name=row["name"],
                    url=deal_url(deal_id),
                    owner_name=owners.get(row["owner_id"] or "", "nobody"),
                    pipeline_label=row["pipeline_label"] or row["pipeline_id"],
                    amount=row["amount"],
                    currency=row["deal_currency"],
                    detail=detail,
                    delta=delta,
                )
            )
            continue
        currency = row["currency"]
        if row["deals"]:
            key = (row["pipeline_id"], row["stage_id"], currency)
            sign = 1 if part == "then" else -1
            count, total = adjustments.get(key, (0, Decimal(0)))
            adjustments[key] = (count + sign * row["deals"], total + sign * _exact(row["total"]))
        if part == "then":
            continue
        for kind in CHANGE_KINDS:
            counts[kind] += row[f"{kind}_count"]
        for kind in _TOTALLED:
            if row[f"{kind}_count"]:
                sums[kind][currency] = sums[kind].get(currency, _ZERO) + _exact(row[f"{kind}_total"])
    groups = []
    for kind in CHANGE_KINDS:
        deals = listed[kind]
        if kind == "amount":
            deals.sort(key=lambda d: (-abs(d.delta), d.name.lower()))
        else:
            deals.sort(key=lambda d: (-(d.amount or 0), d.name.lower()))
        totals = sorted(
            ((currency, _cents(total)) for currency, total in sums[kind].items()),
            key=lambda item: item[0] or "",
        )
        groups.append(ChangeGroup(kind, CHANGE_TITLES[kind], deals, totals, total=counts[kind]))
    return groups, {key: (count, _cents(total)) for key, (count, total) in adjustments.items()}


_TOTALLED = ("new", "won", "lost")
"""The kinds of change whose amounts are added up per currency."""


_StageOrders = tuple[tuple[tuple[str, str], int], ...]
"""Each stage's display order after its (pipeline id, stage id), sorted (hashable: see `_change_figures`)."""


def _stage_order(pipeline_id: _Column, stage_id: _Column, orders: _StageOrders) -> ColumnElement[int]:
    """A stage's display order (0 if unknown) from the few stages read beforehand: cheaper than two
    joins to crm_stages over every changed deal. One `CASE pipeline` of `CASE stage`: each value is
    compared once, not a (pipeline, stage) pair per stage."""
    by_pipeline: dict[str, dict[str, int]] = defaultdict(dict)
    for (pipeline, stage), order in orders:
        by_pipeline[pipeline][stage] = order
    if not by_pipeline:
        return literal(0, Integer)
    return case(
        {pipeline: case(stages, value=stage_id, else_=0) for pipeline, stages in by_pipeline.items()},
        value=pipeline_id,
        else_=0,
    )


def _classified(
    scope: DealScope, *, since: ColumnElement[datetime], today: ColumnElement[date], orders: _StageOrders
) -> tuple[CTE, CTE]:
    """Each deal in the scope that changed since `since` (its current history row, equal to the
    mirror) next to its row at `since` (none: new since), with a 0/1 `<kind>_flag` for each kind
    of change it is and the `delta` of its amount; and the rows at `since` (`then`)."""
    history = DealHistory
    tracked = (
        history.deal_id,
        history.pipeline_id,
        history.stage_id,
        history.amount,
        history.currency,
        history.close_date,
        history.owner_id,
        history.is_closed,
        history.is_won,
    )
    now = (
        select(*tracked)
        .where(
            history.valid_from > since,
            history.valid_to.is_(None),
            *scope.where(history.pipeline_id, history.owner_id),
        )
        .cte("now_row")
    )
    in_scope = and_(true(), *scope.where(history.pipeline_id, history.owner_id))
    then = (
        select(*tracked, in_scope.label("in_scope"))
        .where(history.valid_from <= since, history.valid_to > since)
        .cte("then_row")
        # Read twice from its covering index (a few ms each) rather than stored once and read back
        # from the stored copy, which PostgreSQL does for a CTE read twice unless told not to.
        .prefix_with("NOT MATERIALIZED", dialect="postgresql")
    )
    n, t = now.c, then.c
    # A move within one pipeline: above 0 forward, below back (the deal's own pipeline names the orders).
    order_now = _stage_order(n.pipeline_id, n.stage_id, orders)
    order_then = _stage_order(n.pipeline_id, t.stage_id, orders)
    step = case(
        (
            and_(t.pipeline_id == n.pipeline_id, t.stage_id != n.stage_id),
            order_now - order_then,
        ),
    )
    paired = (
        select(
            *(n[name] for name in ("deal_id", "pipeline_id", "stage_id", "amount", "currency")),
            *(n[name] for name in ("close_date", "is_closed", "is_won")),
            t.deal_id.is_(None).label("is_new"),
            # Deals that came into the scope since are no change within it.
            and_(t.deal_id.is_not(None), t.in_scope).label("kept"),
            t.pipeline_id.label("then_pipeline"),
            t.stage_id.label("then_stage"),
            t.amount.label("then_amount"),
            t.currency.label("then_currency"),
            t.close_date.label("then_close"),
            t.is_closed.label("then_closed"),
            step.label("step"),
        )
        .select_from(now.outerjoin(then, t.deal_id == n.deal_id))
        # OFFSET 0 keeps PostgreSQL from inlining these columns into every flag that reads them:
        # each (the stage orders above all) is worked out once per deal, not once per use.
        .offset(0)
        .subquery("paired")
    )
    p = paired.c
    kept = p.kept.is_(True)
    is_open = p.is_closed.is_(False)
    closed = and_(p.is_closed.is_(True), or_(p.is_new.is_(True), and_(kept, p.then_closed.is_(False))))
    rules = {
        "new": p.is_new.is_(True),
        "forward": and_(kept, is_open, p.then_closed.is_(False), p.step > 0),
        "back": and_(kept, is_open, or_(p.then_closed.is_(True), p.step < 0)),
        "won": and_(closed, p.is_won.is_(True)),
        "lost": and_(closed, p.is_won.is_not(True)),
        "slipped": and_(
            kept, is_open, p.then_close <= today, or_(p.close_date.is_(None), p.close_date > today)
        ),
        # A new currency is not an amount change: amounts are never subtracted across them. Both
        # amounts come from the same column, so they compare exactly.
        "amount": and_(
            kept,
            is_open,
            p.then_currency.is_not_distinct_from(p.currency),
            p.amount.is_distinct_from(p.then_amount),
        ),
    }
    # Only what the counts and the top lists rank on is stored: a listed deal's details are read
    # afterwards for those few (CHANGES_KEPT per kind) from the mirror and its row at `since`.
    pairs = select(
        *(p[name] for name in ("deal_id", "pipeline_id", "stage_id", "amount", "currency", "is_closed")),
        # Ranked on the stored amounts: no conversion per deal (PostgreSQL turns NUMERIC into a
        # float through its text), only for the few listed.
        func.abs(func.coalesce(p.amount, 0) - func.coalesce(p.then_amount, 0)).label("delta"),
        *(case((rule, 1), else_=0).label(f"{kind}_flag") for kind, rule in rules.items()),
    ).cte("pairs")
    return pairs, then


@lru_cache(maxsize=16)
def _change_figures(scope: DealScope, orders: _StageOrders) -> CompoundSelect[Any]:
    """Everything the digest needs of the changes, in one statement over the changes classified
    once (a CTE read more than once is materialized), one row per figure, told apart by `part`:

    - "top": each kind's CHANGES_KEPT most telling changes (largest amount; for amount changes the
      largest change), one top-N each rather than a window that sorted every change once per kind,
      then what the digest shows of those deals, read for them alone (deals deleted since are
      left out);
    - "now": the changed deals per stage and currency as they are now: how many are open and
      their amount, how many changed in each way (`<kind>_count`) and their amount (`<kind>_total`);
    - "then": the open deals per stage and currency at `since` that have changed since (or were
      deleted, or left the scope).

    `since` and `today` are parameters: the statement is built once per scope and stages (building
    it took about 7 ms a digest).
    """
    since = bindparam("since", type_=DealHistory.valid_from.type)
    today = bindparam("today", type_=Date())
    pairs, then = _classified(scope, since=since, today=today, orders=orders)
    c = pairs.c

    def figure(
        part: str, kind: ColumnElement[str] | str | None = None, **values: _Column
    ) -> Select[*tuple[Any, ...]]:
        # The same columns in every branch: NULLs typed, so that each reads back as it should.
        columns: dict[str, _Column] = {n: null().cast(t) for n, t in _FIGURE_COLUMNS.items()}
        columns.update(values)
        return select(
            literal(part).label("part"),
            (kind if isinstance(kind, ColumnElement) else literal(kind, String)).label("kind"),
            *(value.label(name) for name, value in columns.items()),
        )

    kept = union_all(
        *(
            select(literal(kind).label("kind"), c.deal_id)
            .where(c[f"{kind}_flag"] == 1)
            .order_by((c.delta if kind == "amount" else func.coalesce(c.amount, 0)).desc(), c.deal_id.desc())
            .limit(CHANGES_KEPT)
            .subquery(f"top_{kind}")
            .select()
            for kind in CHANGE_KINDS
        )
    ).subquery("kept")
    k = kept.c
    # The mirror is the deal's current row (core.mirror.history); its row at `since` says what it was,
    # found by the history's deal index (one look-up per listed deal, on either database).
    was = aliased(DealHistory, name="was")
    listed = (
        figure(
            "top",
            k.kind,
            deal_id=k.deal_id,
            pipeline_id=MirrorDeal.pipeline_id,
            stage_id=MirrorDeal.stage_id,
            close_date=MirrorDeal.close_date,
            now_amount=cast(MirrorDeal.amount, Float),
            then_pipeline=was.pipeline_id,
            then_stage=was.stage_id,
            then_close=was.close_date,
            then_closed=was.is_closed,
            then_amount=cast(was.amount, Float),
            name=MirrorDeal.name,
            amount=MirrorDeal.amount,
            deal_currency=MirrorDeal.currency,
            owner_id=MirrorDeal.owner_id,
            closed_lost_reason=MirrorDeal.closed_lost_reason,
            pipeline_label=MirrorPipeline.label,
        )
        .join_from(kept, MirrorDeal, MirrorDeal.id == k.deal_id)
        .outerjoin(was, and_(was.deal_id == k.deal_id, was.valid_from <= since, was.valid_to > since))
        .outerjoin(MirrorPipeline, MirrorPipeline.id == MirrorDeal.pipeline_id)
    )
    is_open = c.is_closed.is_(False)
    changed = figure(
        "now",
        pipeline_id=c.pipeline_id,
        stage_id=c.stage_id,
        currency=c.currency,
        deals=func.sum(case((is_open, 1), else_=0)),
        total=func.sum(case((is_open, c.amount))),
        **{f"{kind}_count": func.sum(c[f"{kind}_flag"]) for kind in CHANGE_KINDS},
        **{f"{kind}_total": func.sum(case((c[f"{kind}_flag"] == 1, c.amount))) for kind in _TOTALLED},
    ).group_by(c.pipeline_id, c.stage_id, c.currency)
    t = then.c
    was_open = (
        figure(
            "then",
            pipeline_id=t.pipeline_id,
            stage_id=t.stage_id,
            currency=t.currency,
            deals=func.count(),
            total=func.sum(t.amount),
        )
        .where(t.is_closed.is_(False), t.in_scope.is_(True))
        .group_by(t.pipeline_id, t.stage_id, t.currency)
    )
    return union_all(listed, changed, was_open)


_Column = ColumnElement[Any] | InstrumentedAttribute[Any]

_FIGURE_COLUMNS: dict[str, TypeEngine[Any]] = {
    "deal_id": String(),
    "pipeline_id": String(),
    "stage_id": String(),
    "currency": String(),
    "close_date": Date(),
    "then_pipeline": String(),
    "then_stage": String(),
    "then_close": Date(),
    "then_closed": Boolean(),
    "now_amount": Float(),
    "then_amount": Float(),
    "deals": Integer(),
    # Totals come back as floats, made exact (`exact_money`) only for the few rows that have one.
    "total": Float(),
    **{f"{kind}_count": Integer() for kind in CHANGE_KINDS},
    **{f"{kind}_total": Float() for kind in _TOTALLED},
    "name": String(),
    "amount": Money(),
    "deal_currency": String(),
    "owner_id": String(),
    "closed_lost_reason": String(),
    "pipeline_label": String(),
}
"""What `_change_figures` returns besides `part` and `kind`, and how it reads back."""


def _change_detail(
    kind: str, row: RowMapping, stages: dict[tuple[str, str], tuple[int, str]]
) -> tuple[ChangeDetail, Decimal]:
    """What changed for a listed change of this kind, and for an amount change now minus before
    (zero for the other kinds, which rank on the amount itself)."""

    def label(pipeline_id: str, stage_id: str) -> str:
        return stages.get((pipeline_id, stage_id), (0, stage_id))[1]

    if kind in ("new", "won"):
        return label(row["pipeline_id"], row["stage_id"]), _ZERO
    if kind in ("forward", "back"):
        before = label(row["then_pipeline"], row["then_stage"])
        if row["then_closed"]:
            return StageMove(before, "", reopened=True), _ZERO
        return StageMove(before, label(row["pipeline_id"], row["stage_id"])), _ZERO
    if kind == "slipped":
        return DateMove(row["then_close"], row["close_date"]), _ZERO
    if kind == "amount":
        before, after = row["then_amount"], row["now_amount"]
        delta = Decimal(str(round((after or 0.0) - (before or 0.0), 4)))
        return AmountMove(_optional_money(before), _optional_money(after), row["deal_currency"]), delta
    return row["closed_lost_reason"] or NoReason(), _ZERO


_ZERO = Decimal(0)


def _exact(total: float | None) -> Decimal:
    """A total read back as a float, exact again (zero when there was nothing to add)."""
    return _ZERO if total is None else exact_money(total)


def _money(value: float) -> Decimal:
    return _cents(Decimal(str(round(value, 4))))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def _optional_money(value: float | None) -> Decimal | None:
    return None if value is None else _money(value)


def _owner_names(session: Session) -> dict[str, str]:
    return {o.id: o.name for o in session.scalars(select(MirrorOwner))}


def _with_baseline(
    summary: PipelineSummary, adjustments: dict[StageKey, tuple[int, Decimal]]
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


@dataclass(frozen=True, slots=True)
class DecisionRules:
    """What makes an open deal need a decision, as SQL on the mirror (snoozed deals left out)."""

    past: ColumnElement[bool]
    closing_bare: ColumnElement[bool]
    stale: ColumnElement[bool]
    not_snoozed: ColumnElement[bool]
    cutoff: datetime

    @classmethod
    def at(cls, *, now: datetime, today: date, stale_after_days: int) -> DecisionRules:
        cutoff = stale_cutoff(now, stale_after_days)
        return cls(
            past=and_(MirrorDeal.close_date.is_not(None), MirrorDeal.close_date < today),
            closing_bare=and_(
                MirrorDeal.close_date >= today,
                MirrorDeal.close_date <= today + timedelta(days=CLOSING_SOON_DAYS),
                or_(MirrorDeal.next_step.is_(None), func.trim(MirrorDeal.next_step) == ""),
            ),
            stale=unreviewed_since(cutoff),
            not_snoozed=MirrorDeal.id.not_in(select(Snooze.deal_id)),
            cutoff=cutoff,
        )

    @property
    def counted(self) -> tuple[ColumnElement[bool], ...]:
        """What `needs_decision` counts among open deals, snoozed or not: past close date, closing
        bare, stale, and stale among the first two (`and_` stops at the first false: the stale rule
        is worked out again only for those few)."""
        return (
            self.past,
            self.closing_bare,
            self.stale,
            and_(self.past, self.stale),
            and_(self.closing_bare, self.stale),
        )


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
    counted: tuple[int, ...] | None = None,
) -> Decisions:
    """Open deals past their close date, closing within 14 days with no next step, or stale.

    Stale follows the stale_deals ritual: no activity, no change by a person, none through Drumbeat
    for `stale_after_days`; a snoozed deal waits for its snooze to end (those few are worked out one
    by one, since a snooze's own note is not a review). `counted`: how many open deals match each
    of `DecisionRules.counted`, when the caller has counted them (the stage totals' scan).
    """
    owners = owners if owners is not None else _owner_names(session)
    rules = DecisionRules.at(now=now, today=today, stale_after_days=stale_after_days)
    open_deals = [MirrorDeal.is_closed.is_(False), *scope.where()]
    total, n_past, n_bare, n_stale = _decision_counts(session, rules, open_deals, counted)
    flags = (
        case((rules.past, 1), else_=0),
        case((rules.closing_bare, 1), else_=0),
        case((rules.stale, 1), else_=0),
    )
    listed = select(
        MirrorDeal.id,
        MirrorDeal.name,
        MirrorDeal.owner_id,
        MirrorDeal.amount,
        MirrorDeal.currency,
        MirrorDeal.close_date,
        *flags,
    ).where(*open_deals, rules.not_snoozed, or_(rules.past, rules.closing_bare, rules.stale))
    # Most valuable first, walking the amount index; deals with no amount after them.
    rows = list(
        session.execute(
            listed.where(MirrorDeal.amount.is_not(None))
            .order_by(MirrorDeal.amount.desc(), MirrorDeal.name)
            .limit(keep)
        ).all()
    )
    if len(rows) < keep:
        rows += session.execute(
            listed.where(MirrorDeal.amount.is_(None)).order_by(MirrorDeal.name).limit(keep - len(rows))
        ).all()
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
    extra = _snoozed_decisions(
        session,
        scope,
        rules,
        now=now,
        today=today,
        stale_after_days=stale_after_days,
        owners=owners,
        deal_url=deal_url,
    )
    for deal in extra:
        n_past += REASON_PAST_CLOSE in deal.reasons
        n_bare += REASON_NO_NEXT_STEP in deal.reasons
        n_stale += REASON_STALE in deal.reasons
    deals = sorted([*deals, *extra], key=lambda d: (-(d.amount or 0), d.name))[:keep]
    by_reason = {REASON_PAST_CLOSE: n_past, REASON_NO_NEXT_STEP: n_bare, REASON_STALE: n_stale}
    return Decisions(deals, total + len(extra), by_reason)


def _decision_counts(
    session: Session,
    rules: DecisionRules,
    open_deals: Sequence[ColumnElement[bool]],
    counted: tuple[int, ...] | None,
) -> tuple[int, int, int, int]:
    """(in all, past close date, closing bare, stale) among open deals not snoozed: past close date
    and closing soon never overlap, so the union is the three counts less the stale ones among the
    first two (`counted`, or one scan); snoozed deals are counted apart and taken off."""
    if counted is None:
        counted = tuple(
            int(n or 0)
            for n in session.execute(
                select(*(func.sum(case((condition, 1), else_=0)) for condition in rules.counted)).where(
                    *open_deals
                )
            ).one()
        )
    past, bare, stale, stale_past, stale_bare = counted
    union = past + bare + stale - stale_past - stale_bare
    for f_past, f_bare, f_stale in session.execute(
        select(
            case((rules.past, 1), else_=0),
            case((rules.closing_bare, 1), else_=0),
            case((rules.stale, 1), else_=0),
        ).where(*open_deals, MirrorDeal.id.in_(select(Snooze.deal_id)))
    ).all():
        past, bare, stale = past - f_past, bare - f_bare, stale - f_stale
        union -= 1 if (f_past or f_bare or f_stale) else 0
    return union, past, bare, stale


def closing_bare(close_date: date | None, next_step: str | None, today: date) -> bool:
    """Closing within CLOSING_SOON_DAYS (today included) with no next step: `DecisionRules`'s
    closing_bare, for deals already in hand."""
    return (
        close_date is not None
        and today <= close_date <= today + timedelta(days=CLOSING_SOON_DAYS)
        and not (next_step or "").strip()
    )


def _reasons(past: bool, bare: bool, stale: bool) -> tuple[str, ...]:
    chosen = ((past, REASON_PAST_CLOSE), (bare, REASON_NO_NEXT_STEP), (stale, REASON_STALE))
    return tuple(reason for flag, reason in chosen if flag)


def _snoozed_decisions(
    session: Session,
    scope: DealScope,
    rules: DecisionRules,
    *,
    now: datetime,
    today: date,
    stale_after_days: int,
    owners: dict[str, str],
    deal_url: Callable[[str], str],
) -> list[DecisionDeal]:
    # Driven by the few snoozes (joined on the primary key), never by a scan of the open deals; each
    # one's snooze and last change through Drumbeat in the same statement. A deal whose snooze
    # still holds is stale for nobody, so it comes back only when its close date needs a decision.
    rows = session.execute(
        select(
            MirrorDeal.id,
            MirrorDeal.name,
            MirrorDeal.owner_id,
            MirrorDeal.amount,
            MirrorDeal.currency,
            MirrorDeal.close_date,
            MirrorDeal.next_step,
            MirrorDeal.last_activity_at,
            MirrorDeal.created_at,
            MirrorDeal.person_changed_at,
            Snooze.until,
            Snooze.snoozed_at,
            Snooze.touched_before,
            drumbeat_changed_at(MirrorDeal.id),
        )
        .join(Snooze, Snooze.deal_id == MirrorDeal.id)
        .where(
            MirrorDeal.is_closed.is_(False),
            *scope.where(),
            or_(rules.past, rules.closing_bare, snooze_over(today)),
        )
    ).all()
    found = []
    for (
        deal_id,
        name,
        owner_id,
        amount,
        currency,
        close_date,
        next_step,
        activity,
        created,
        person_changed,
        until,
        snoozed_at,
        touched_before,
        drumbeat_at,
    ) in rows:
        past = close_date is not None and close_date < today
        bare = closing_bare(close_date, next_step, today)
        reviewed = last_review(
            Touches(activity, created, person_changed),
            SnoozeInfo(until, snoozed_at, touched_before),
            drumbeat_at,
        )
        stale = is_stale(reviewed, until, now=now, today=today, stale_after_days=stale_after_days)
        if past or bare or stale:
            found.append(
                DecisionDeal(
                    deal_id,
                    name,
                    deal_url(deal_id),
                    owners.get(owner_id or "", "nobody"),
                    amount,
                    currency,
                    close_date,
                    _reasons(past, bare, stale),
                )
            )
    return found
