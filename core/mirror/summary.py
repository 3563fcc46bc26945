"""Read models over the local mirror: the pipeline by stage and what needs a look, per owner."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from core.deals.attention import needs_attention
from core.deals.desk import DealView
from core.models import MirrorDeal, MirrorPipeline, MirrorStage


@dataclass(frozen=True, slots=True)
class StageLine:
    stage_id: str
    label: str
    probability: float | None
    deals: int
    amount: Decimal
    weighted: Decimal


class _StageLike(Protocol):
    @property
    def deals(self) -> int: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def weighted(self) -> Decimal: ...


class StageSums:
    """A pipeline's totals from its stages' (for any dataclass with `stages`)."""

    __slots__ = ()
    stages: Sequence[_StageLike]

    @property
    def deals(self) -> int:
        return sum(s.deals for s in self.stages)

    @property
    def amount(self) -> Decimal:
        return sum((s.amount for s in self.stages), Decimal(0))

    @property
    def weighted(self) -> Decimal:
        return sum((s.weighted for s in self.stages), Decimal(0))


@dataclass(frozen=True, slots=True)
class PipelineSummary(StageSums):
    pipeline_id: str
    label: str
    currency: str | None
    stages: list[StageLine]


@dataclass(slots=True)
class OwnerAttention:
    owner_id: str
    name: str
    open_deals: int = 0
    stale: list[str] = field(default_factory=list)
    past_close: list[str] = field(default_factory=list)
    missing_amount: list[str] = field(default_factory=list)


StageKey = tuple[str, str, str | None]
"""(pipeline id, stage id, currency)."""


def open_stage_totals(
    session: Session,
    where: Sequence[ColumnElement[bool]] = (),
    counted: Sequence[ColumnElement[bool]] = (),
) -> dict[StageKey, tuple[int, Decimal, tuple[int, ...]]]:
    """Open deals per pipeline, stage and currency: (count, amount, how many match each of
    `counted`), in one scan; `where` narrows the deals."""
    rows = session.execute(
        select(
            MirrorDeal.pipeline_id,
            MirrorDeal.stage_id,
            MirrorDeal.currency,
            func.count(),
            func.coalesce(func.sum(MirrorDeal.amount), 0),
            *(func.coalesce(func.sum(case((condition, 1), else_=0)), 0) for condition in counted),
        )
        .where(MirrorDeal.is_closed.is_(False), *where)
        .group_by(MirrorDeal.pipeline_id, MirrorDeal.stage_id, MirrorDeal.currency)
    ).all()
    return {
        (p, s, c): (int(n), Decimal(str(total)), tuple(int(x) for x in extra))
        for p, s, c, n, total, *extra in rows
    }


def pipeline_summaries(
    session: Session,
    where: Sequence[ColumnElement[bool]] = (),
    *,
    totals: dict[StageKey, tuple[int, Decimal, tuple[int, ...]]] | None = None,
) -> list[PipelineSummary]:
    """Open deals per pipeline and stage, one summary per pipeline and currency (never added across);
    `where` narrows the deals (a pipeline with none still shows, with zeros). `totals`: what
    `open_stage_totals` already read."""
    if totals is None:
        totals = open_stage_totals(session, where)
    counts = {key: (n, amount) for key, (n, amount, _) in totals.items()}
    currencies: dict[str, set[str | None]] = defaultdict(set)
    for pipeline_id, _, currency in counts:
        currencies[pipeline_id].add(currency)
    pipelines = session.scalars(select(MirrorPipeline).order_by(MirrorPipeline.display_order)).all()
    stages = session.scalars(select(MirrorStage).order_by(MirrorStage.display_order)).all()
    summaries = []
    for pipeline in pipelines:
        open_stages = [s for s in stages if s.pipeline_id == pipeline.id and not s.is_closed]
        for currency in sorted(currencies.get(pipeline.id) or {None}, key=lambda c: c or ""):
            lines = []
            for stage in open_stages:
                n, total = counts.get((pipeline.id, stage.id, currency), (0, Decimal(0)))
                weight = Decimal(str(stage.probability if stage.probability is not None else 0))
                lines.append(
                    StageLine(
                        stage.id,
                        stage.label,
                        stage.probability,
                        n,
                        total,
                        (total * weight).quantize(Decimal(1)),
                    )
                )
            summaries.append(PipelineSummary(pipeline.id, pipeline.label, currency, lines))
    return summaries


def attention_by_owner(
    deals: Sequence[DealView], now: datetime, stale_after_days: int
) -> list[OwnerAttention]:
    """Per owner with open deals: which are stale, past their close date, or lack an amount (the
    one "needs attention" rule, with today taken as `now`'s date)."""
    result: dict[str, OwnerAttention] = {}
    today = now.date()
    for deal in sorted(deals, key=lambda d: d.name):
        if deal.is_closed:
            continue
        entry = result.setdefault(deal.owner_id or "", OwnerAttention(deal.owner_id or "", deal.owner_name))
        entry.open_deals += 1
        looks = needs_attention(deal, now=now, today=today, stale_after_days=stale_after_days)
        if looks.stale:
            entry.stale.append(deal.name)
        if looks.past_close:
            entry.past_close.append(deal.name)
        if "amount" in looks.missing:
            entry.missing_amount.append(deal.name)
    return sorted(result.values(), key=lambda a: a.name)
