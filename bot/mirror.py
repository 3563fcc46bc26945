"""Read models over the local mirror: the pipeline by stage and what needs a look, per owner."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import MirrorDeal, MirrorOwner, MirrorPipeline, MirrorStage


@dataclass(frozen=True, slots=True)
class StageLine:
    stage_id: str
    label: str
    probability: float | None
    deals: int
    amount: Decimal
    weighted: Decimal


@dataclass(frozen=True, slots=True)
class PipelineSummary:
    pipeline_id: str
    label: str
    currency: str | None
    stages: list[StageLine]

    @property
    def deals(self) -> int:
        return sum(s.deals for s in self.stages)

    @property
    def amount(self) -> Decimal:
        return sum((s.amount for s in self.stages), Decimal(0))

    @property
    def weighted(self) -> Decimal:
        return sum((s.weighted for s in self.stages), Decimal(0))


@dataclass(slots=True)
class OwnerAttention:
    owner_id: str
    name: str
    open_deals: int = 0
    stale: list[str] = field(default_factory=list)
    past_close: list[str] = field(default_factory=list)
    missing_amount: list[str] = field(default_factory=list)


def pipeline_summaries(session: Session) -> list[PipelineSummary]:
    """Open deals per pipeline and stage, one summary per pipeline and currency (never added across)."""
    rows = session.execute(
        select(
            MirrorDeal.pipeline_id,
            MirrorDeal.stage_id,
            MirrorDeal.currency,
            func.count(),
            func.coalesce(func.sum(MirrorDeal.amount), 0),
        )
        .where(MirrorDeal.is_closed.is_(False))
        .group_by(MirrorDeal.pipeline_id, MirrorDeal.stage_id, MirrorDeal.currency)
    ).all()
    counts = {(p, s, c): (n, Decimal(str(total))) for p, s, c, n, total in rows}
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


def attention_by_owner(session: Session, now: datetime, stale_after_days: int = 14) -> list[OwnerAttention]:
    """Per owner with open deals: which are untouched too long, past their close date, or lack an amount."""
    owners = {o.id: o for o in session.scalars(select(MirrorOwner))}
    result: dict[str, OwnerAttention] = {}
    stale_before = now - timedelta(days=stale_after_days)
    today = now.date()
    deals = session.scalars(
        select(MirrorDeal).where(MirrorDeal.is_closed.is_(False)).order_by(MirrorDeal.name)
    ).all()
    for deal in deals:
        owner_id = deal.owner_id or ""
        if owner_id not in result:
            owner = owners.get(owner_id)
            name = f"{owner.first_name} {owner.last_name}".strip() if owner else "(no owner)"
            result[owner_id] = OwnerAttention(owner_id, name)
        entry = result[owner_id]
        entry.open_deals += 1
        touched = deal.last_activity_at or deal.created_at
        if touched is None or touched < stale_before:
            entry.stale.append(deal.name)
        if deal.close_date is not None and deal.close_date < today:
            entry.past_close.append(deal.name)
        if deal.amount is None:
            entry.missing_amount.append(deal.name)
    return sorted(result.values(), key=lambda a: a.name)
