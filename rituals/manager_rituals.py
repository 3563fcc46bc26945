"""The manager rituals, gathered from the mirror and the history: the pipeline digest and the
adoption report (one post each in a channel) and 1:1 prep (one DM per direct report).

The engine claims the firing and delivers; this module works out what to say. No Slack import:
rendering and posting are handed in (`ReportRenderers`, `Poster`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.deals.desk import DealDesk
from core.i18n import Translator, translator
from core.mirror.history import close_date_pushes, history_start
from core.mirror.summary import pipeline_summaries
from core.models import MirrorOwner, RitualFiring
from core.people import LookupUnavailable, PeopleDirectory, SlackProfile
from rituals.adoption import AdoptionReport, build_adoption
from rituals.config import (
    AdoptionReportRitual,
    OneOnOnePrepRitual,
    PipelineDigestRitual,
    RitualsConfig,
    StaleDealsRitual,
)
from rituals.digest import (
    DealScope,
    PipelineDigest,
    build_digest,
    changes_since,
    currency_totals,
    scope_for,
)
from rituals.kinds import OwnerFindings
from rituals.posts import ChannelPost, SlackMessage
from rituals.prep import PrepBrief, prep_brief, since_last_prep

if TYPE_CHECKING:  # matplotlib loads only when a chart is drawn
    from rituals.charts import Chart

log = logging.getLogger(__name__)

__all__ = [
    "DigestRenderer",
    "PlannedPrep",
    "PostOutcome",
    "Poster",
    "ReportRenderers",
    "adoption_chart",
    "adoption_for",
    "channel_language",
    "digest_chart",
    "digest_for",
    "prep_for",
    "stale_ritual",
    "with_chart",
]


class DigestRenderer(Protocol):
    def __call__(self, digest: PipelineDigest, mention: str | None, *, t: Translator) -> ChannelPost: ...


class AdoptionRenderer(Protocol):
    def __call__(self, report: AdoptionReport, *, t: Translator) -> ChannelPost: ...


class PrepRenderer(Protocol):
    def __call__(self, brief: PrepBrief, *, t: Translator) -> SlackMessage: ...


@dataclass(frozen=True, slots=True)
class ReportRenderers:
    """Block Kit for each report (handlers.reports in the app), in the reader's language `t`.
    `digest` also gets the ritual's `mention:` as written in the file, to turn into a user group
    mention."""

    digest: DigestRenderer
    adoption: AdoptionRenderer
    prep: PrepRenderer


@dataclass(frozen=True, slots=True)
class PostOutcome:
    channel_id: str
    ts: str
    warnings: list[str] = field(default_factory=list)
    """What did not go through although the post did (the chart, a thread reply)."""


Poster = Callable[[str, ChannelPost], PostOutcome]
"""(channel as the rituals file names it, post) -> outcome; raises DeliveryError when nothing was posted."""


def channel_language(
    ritual: PipelineDigestRitual | AdoptionReportRitual, config: RitualsConfig
) -> Translator:
    """A channel post reads in its ritual's `language:`, else the rituals file's."""
    return translator(ritual.language or config.language)


def stale_ritual(config: RitualsConfig) -> StaleDealsRitual | None:
    """The stale_deals ritual whose window other rituals use ("reviewed within 14 days")."""
    return next((r for r in config.rituals if isinstance(r, StaleDealsRitual)), None)


# --------------------------------------------------------------------------------------------
# Pipeline digest


def digest_for(
    ritual: PipelineDigestRitual,
    config: RitualsConfig,
    sessions: sessionmaker[Session],
    *,
    now: datetime,
    deal_url: Callable[[str], str],
    crm_label: str,
    history_retention: timedelta,
) -> PipelineDigest:
    filters = ritual.filters
    with sessions() as session:
        scope = (
            scope_for(session, pipelines=filters.pipelines, owners=filters.owners, teams=filters.teams)
            if filters is not None
            else DealScope()
        )
        digest = build_digest(
            session,
            ritual_id=ritual.id,
            scope=scope,
            now=now,
            local_now=now.astimezone(ritual.zone()),
            compare_days=ritual.compare_days,
            stale_after_days=config.stale_after_days,
            deal_url=deal_url,
            crm_label=crm_label,
            history_retention=history_retention,
        )
    if filters is not None and filters.teams and scope.owner_ids is not None and not scope.owner_ids:
        digest.warnings.append(
            f"no CRM owner is in the teams {', '.join(filters.teams)}: the digest covers no deals"
        )
    return digest


def digest_chart(digest: PipelineDigest, *, t: Translator) -> Chart:
    """The stage funnel, this period against the comparison point, one panel per pipeline and currency."""
    from rituals.charts import FunnelSeries, FunnelStage, funnel_chart

    series = []
    for pipeline in digest.pipelines:
        currency = pipeline.currency

        def short(value: float, currency: str | None = currency) -> str:
            return t.money_short(Decimal(str(round(value, 2))), currency)

        def exact(value: float, currency: str | None = currency) -> str:
            return t.money(Decimal(str(round(value, 2))), currency)

        title = f"{pipeline.label} ({currency})" if currency else pipeline.label
        stages = [FunnelStage(s.label, float(s.amount), float(s.amount_before)) for s in pipeline.stages]
        series.append(FunnelSeries(title, stages, short, exact))
    if digest.since is None:
        before_label, title = t._("Before"), t._("Open pipeline by stage: now vs before")
    elif digest.compare_days == 7 and digest.history_note is None:
        before_label, title = t._("Last week"), t._("Open pipeline by stage: now vs last week")
    else:
        day = t.day_month(digest.since.date())
        before_label = t._("On {day}", day=day)
        title = t._("Open pipeline by stage: now vs on {day}", day=day)
    return funnel_chart(
        series,
        now_label=t._("Now"),
        before_label=before_label,
        filename=f"{digest.ritual_id}-{digest.as_of:%Y-%m-%d}.png",
        title=title,
        t=t,
    )


# --------------------------------------------------------------------------------------------
# Adoption report


def adoption_for(
    ritual: AdoptionReportRitual,
    config: RitualsConfig,
    session: Session,
    *,
    findings: Mapping[str, OwnerFindings],
    slack_ids: Mapping[str, str],
    now: datetime,
    record: bool,
) -> AdoptionReport:
    names = {
        o.id: o.name for o in session.scalars(select(MirrorOwner).where(MirrorOwner.id.in_(list(findings))))
    }
    nudge_rituals = [r.id for r in config.rituals if r.kind in ("stale_deals", "hygiene")]
    return build_adoption(
        session,
        ritual_id=ritual.id,
        findings=findings,
        names=names,
        slack_ids=slack_ids,
        now=now.astimezone(ritual.zone()),
        today=now.astimezone(ritual.zone()).date(),
        window_days=config.stale_after_days,
        nudge_rituals=nudge_rituals,
        threshold=ritual.threshold,
        ranking=ritual.ranking,
        record=record,
    )


def adoption_chart(report: AdoptionReport, *, t: Translator) -> Chart:
    from rituals.charts import TrendPoint, trend_chart

    points = [TrendPoint(t.day_month(w.week_start), w.share) for w in report.trend]
    return trend_chart(
        points,
        title=t.n_(
            "Open deals reviewed within {days} days, last {n} week",
            "Open deals reviewed within {days} days, last {n} weeks",
            len(points),
            days=report.window_days,
        ),
        filename=f"{report.ritual_id}-{report.as_of:%Y-%m-%d}.png",
        t=t,
    )


# --------------------------------------------------------------------------------------------
# 1:1 prep


@dataclass(frozen=True, slots=True)
class PlannedPrep:
    manager: SlackProfile
    rep_owner_id: str
    brief: PrepBrief
    t: Translator
    """The manager's language, which the brief is written in."""


@dataclass
class PrepPlan:
    briefs: list[PlannedPrep] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """People the ritual could not serve, said plainly (no manager set, a report not in the CRM)."""


def prep_for(
    ritual: OneOnOnePrepRitual,
    config: RitualsConfig,
    sessions: sessionmaker[Session],
    *,
    desk: DealDesk,
    people: PeopleDirectory,
    now: datetime,
    history_retention: timedelta,
) -> PrepPlan:
    """One brief per (manager, direct report) from `people:` entries with a `manager:`."""
    plan = PrepPlan()
    reports_of: dict[str, list[str]] = defaultdict(list)
    for person in config.people:
        if person.manager:
            reports_of[person.manager].append(person.crm_owner)
    if not reports_of:
        plan.problems.append(
            "nobody has direct reports: give people: entries a manager: (Slack id or email) "
            "in the rituals file"
        )
        return plan
    zone = ritual.zone()
    local_now = now.astimezone(zone)
    today = local_now.date()
    stale_after_days = config.stale_after_days
    with sessions() as session:
        last = session.scalar(
            select(RitualFiring.scheduled_for)
            .where(
                RitualFiring.ritual_id == ritual.id,
                RitualFiring.status == "done",
                RitualFiring.scheduled_for < now,
            )
            .order_by(RitualFiring.scheduled_for.desc())
            .limit(1)
        )
        owners = {o.id: o for o in session.scalars(select(MirrorOwner))}
        by_email = {o.email.lower(): o.id for o in owners.values() if o.email}
        start = history_start(session, now=now, retention=history_retention)
    since, first_prep = since_last_prep(last, now)
    # No further back than the history knows every deal: before it, every deal would look new.
    since = since if start is None else max(since, start)
    for manager_ref, refs in sorted(reports_of.items()):
        try:
            manager = (
                people.profile_by_email(manager_ref) if "@" in manager_ref else people.profile(manager_ref)
            )
        except LookupUnavailable as exc:
            plan.problems.append(f"manager {manager_ref}: Slack could not be asked ({exc})")
            continue
        if manager is None:
            plan.problems.append(f"manager {manager_ref} is not in Slack: their 1:1 prep was not sent")
            continue
        t = translator(people.language_of(manager))
        for ref in refs:
            owner_id = by_email.get(ref.lower()) if "@" in ref else ref if ref in owners else None
            if owner_id is None:
                plan.problems.append(
                    f"{ref} (a report of {manager.name}) is not a CRM owner: no prep for them"
                )
                continue
            owner = owners[owner_id]
            rep_name = owner.name
            brief = _brief(
                sessions,
                desk,
                ritual_id=ritual.id,
                manager_name=manager.name,
                owner_id=owner_id,
                rep_name=rep_name,
                now=now,
                local_now=local_now,
                today=today,
                since=since,
                first_prep=first_prep,
                stale_after_days=stale_after_days,
                history_since=now - history_retention,
                with_changes=start is not None,
                t=t,
            )
            plan.briefs.append(PlannedPrep(manager, owner_id, brief, t))
    return plan


def _brief(
    sessions: sessionmaker[Session],
    desk: DealDesk,
    *,
    ritual_id: str,
    manager_name: str,
    owner_id: str,
    rep_name: str,
    now: datetime,
    local_now: datetime,
    today: date,
    since: datetime,
    first_prep: bool,
    stale_after_days: int,
    history_since: datetime,
    with_changes: bool,
    t: Translator,
) -> PrepBrief:
    deals = desk.open_deals(owner_ids=[owner_id])
    ids = [d.id for d in deals]
    scope = DealScope(owner_ids=frozenset({owner_id}))
    with sessions() as session:
        pushes = close_date_pushes(session, ids, history_since)
        changes = (
            changes_since(session, scope, since=since, today=today, deal_url=desk.deal_url)
            if with_changes
            else []
        )
        pipeline = currency_totals(pipeline_summaries(session, where=scope.where()))
    return prep_brief(
        ritual_id=ritual_id,
        manager_name=manager_name,
        rep_owner_id=owner_id,
        rep_name=rep_name,
        deals=deals,
        pushes=pushes,
        changes=changes,
        pipeline=pipeline,
        now=local_now,
        today=today,
        since=since.astimezone(local_now.tzinfo),
        first_prep=first_prep,
        stale_after_days=stale_after_days,
        t=t,
    )


def with_chart(post: ChannelPost, draw: Callable[[], Chart], warnings: list[str]) -> ChannelPost:
    """The post with its chart; a chart that cannot be drawn is a warning, never a lost report."""
    try:
        return replace(post, chart=draw())
    except Exception:  # matplotlib on odd data: the figures still go out
        log.exception("drawing the chart failed")
        warnings.append("the chart could not be drawn (see the logs); the report went out without it")
        return post
