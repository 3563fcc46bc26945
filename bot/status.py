"""`drumbeat status` underneath: what an admin checks first. Rituals with their next firing and
last run, the queues (CRM updates, commands, DMs), the mirror, and whether the CRM and Slack accept
their tokens. No Slack import: the Slack check is handed in."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.i18n import MISSING, N_, Translator
from core.models import (
    AlertPost,
    DealHistory,
    MirrorDeal,
    OutboxEntry,
    PendingDM,
    ReceivedCommand,
    RitualFiring,
    SyncState,
)
from core.queues import alert_posts, commands, dms, outbox
from core.queues.leased import QueueSpec
from integrations.base import CRM, ApiBudget, CrmError
from rituals.config import RitualBase, RitualsConfig, next_firings

log = logging.getLogger(__name__)

__all__ = [
    "CrmBudgetGauges",
    "DeadLetters",
    "Health",
    "QueueDepth",
    "RitualStatus",
    "Status",
    "crm_access_problem",
    "crm_scopes_problem",
    "gather_status",
    "show_status",
]


@dataclass(frozen=True, slots=True)
class RitualStatus:
    ritual_id: str
    kind: str
    enabled: bool
    next_firing: datetime | None
    """In the ritual's zone."""
    last_scheduled: datetime | None
    last_status: str | None
    last_summary: str | None


@dataclass(frozen=True, slots=True)
class QueueDepth:
    name: str
    waiting: int
    oldest_age: timedelta | None
    failed: int
    """Dead-lettered: given up on for good (for CRM updates, refused by the CRM too)."""
    last_failure: str | None = None
    """Why the latest of them was given up on."""


@dataclass(frozen=True, slots=True)
class Health:
    name: str
    problem: str | None


@dataclass(frozen=True, slots=True)
class Status:
    rituals: list[RitualStatus]
    queues: list[QueueDepth]
    mirrored_deals: int
    history_rows: int
    last_sync: datetime | None
    health: list[Health]
    crm_budget: ApiBudget | None = None
    """The CRM's allowance as its answers to the health checks told it (None: no such limits)."""

    @property
    def healthy(self) -> bool:
        return all(h.problem is None for h in self.health) and not any(
            r.last_status == "failed" for r in self.rituals
        )


def gather_status(
    sessions: sessionmaker[Session],
    config: RitualsConfig,
    *,
    crm: CRM,
    crm_label: str,
    slack_problem: Callable[[], str | None] | None,
    now: datetime,
) -> Status:
    with sessions() as session:
        rituals = [_ritual(session, ritual, now) for ritual in config.scheduled]
        queues = [_queue(session, name, spec, since, now) for name, spec, since in QUEUES]
        mirrored = session.scalar(select(func.count()).select_from(MirrorDeal)) or 0
        history = session.scalar(select(func.count()).select_from(DealHistory)) or 0
        deals_state = session.get(SyncState, "deals")
    health = [Health(crm_label[:1].upper() + crm_label[1:], _crm_problem(crm))]
    budget = crm.api_budget()  # after the health check's calls: their answers carry the figures
    if slack_problem is not None:
        health.append(Health("Slack", slack_problem()))
    return Status(
        rituals=rituals,
        queues=queues,
        mirrored_deals=mirrored,
        history_rows=history,
        last_sync=deals_state.last_sync_at if deals_state else None,
        health=health,
        crm_budget=budget,
    )


def _ritual(session: Session, ritual: RitualBase, now: datetime) -> RitualStatus:
    last = session.scalars(
        select(RitualFiring)
        .where(RitualFiring.ritual_id == ritual.id)
        .order_by(RitualFiring.scheduled_for.desc())
        .limit(1)
    ).first()
    upcoming = next_firings(ritual, now, 1) if ritual.enabled else []
    return RitualStatus(
        ritual_id=ritual.id,
        kind=ritual.kind,
        enabled=ritual.enabled,
        next_firing=upcoming[0] if upcoming else None,
        last_scheduled=last.scheduled_for.astimezone(ritual.zone()) if last else None,
        last_status=last.status if last else None,
        last_summary=last.summary if last else None,
    )


# The queues an admin sees: name (English: also the /metrics label), what the queue is, and when a
# waiting item started waiting.
QUEUES: list[tuple[str, QueueSpec[Any], Any]] = [
    (N_("CRM updates (outbox)"), outbox.SPEC, OutboxEntry.created_at),
    (N_("/deal commands"), commands.SPEC, ReceivedCommand.received_at),
    (N_("DMs"), dms.SPEC, PendingDM.send_after),
    (N_("deal alert posts"), alert_posts.SPEC, AlertPost.created_at),
]


def _queue(session: Session, name: str, spec: QueueSpec[Any], since: Any, now: datetime) -> QueueDepth:
    model: Any = spec.model
    rows: dict[str, int] = dict(
        session.execute(select(model.status, func.count()).group_by(model.status)).all()
    )
    oldest = session.scalar(select(func.min(since)).where(model.status == spec.waiting))
    age = None
    if oldest is not None:
        age = max(now - oldest, timedelta(0))
    last_failure = session.scalar(
        select(model.last_error).where(model.status == spec.dead).order_by(model.id.desc()).limit(1)
    )
    return QueueDepth(name, int(rows.get(spec.waiting, 0)), age, int(rows.get(spec.dead, 0)), last_failure)


class DeadLetters(Collector):
    """`/metrics`: items each queue gave up on (dead-lettered), read from the database when scraped."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "drumbeat_queue_dead_letters",
            "Queued items given up on, with a reason, per queue.",
            labels=["queue"],
        )
        try:
            with self._sessions() as session:
                for name, spec, _since in QUEUES:
                    model: Any = spec.model
                    count = session.scalar(select(func.count()).where(model.status == spec.dead)) or 0
                    gauge.add_metric([name], count)
        except SQLAlchemyError as exc:  # the database is away: /metrics still answers, without these
            log.warning("dead letter counts unavailable (%s)", type(exc).__name__)
            return
        yield gauge


class CrmBudgetGauges(Collector):
    """`/metrics`: the CRM's allowance as this process last heard it, and whether syncs are paused."""

    def __init__(self, crm: CRM) -> None:
        self._crm = crm

    def collect(self) -> Iterator[Metric]:
        budget = self._crm.api_budget()
        if budget is None:
            return
        yield GaugeMetricFamily(
            "drumbeat_crm_background_paused",
            "1 while background syncs pause: the CRM's daily allowance is under HUBSPOT_DAILY_FLOOR.",
            value=1 if budget.background_paused else 0,
        )
        yield GaugeMetricFamily(
            "drumbeat_crm_allowed_requests_per_window",
            "CRM requests per window Drumbeat allows itself now (its share of what others leave).",
            value=budget.allowed_per_window,
        )
        if budget.daily_left_share is not None:
            yield GaugeMetricFamily(
                "drumbeat_crm_daily_remaining_ratio",
                "Share of the portal's daily API allowance left, as the CRM last said.",
                value=budget.daily_left_share,
            )
        if budget.portal_remaining is not None:
            yield GaugeMetricFamily(
                "drumbeat_crm_window_remaining",
                "Requests left in the portal's current window, as the CRM last said (all its apps).",
                value=budget.portal_remaining,
            )
        yield CounterMetricFamily(
            "drumbeat_crm_rate_limited",
            "CRM requests answered 429 since this process started.",
            value=budget.rate_limited,
        )


def _crm_problem(crm: CRM) -> str | None:
    return crm_access_problem(crm)


def crm_access_problem(crm: CRM) -> str | None:
    """None when the CRM accepts the token with every scope Drumbeat needs, else what is wrong
    (the missing scopes by name, and where to add them)."""
    try:
        missing = crm.missing_scopes()  # refuses a bad token or an outage as check_access does
    except CrmError as exc:
        return str(exc)
    if missing:
        return crm_scopes_problem(missing)
    return None


def crm_scopes_problem(missing: list[str]) -> str:
    from integrations.hubspot import WHERE_TO_ADD_SCOPES  # only HubSpot has scopes

    return f"the HubSpot token lacks scope {', '.join(missing)}: {WHERE_TO_ADD_SCOPES}"


def show_status(console: Console, status: Status, *, slack_configured: bool, t: Translator) -> None:
    """`drumbeat status` as the admin reads it, in ``t``'s language."""
    table = Table(title=t._("Rituals"), title_justify="left")
    for column in (t._("Ritual"), t._("Kind"), t._("Next firing"), t._("Last firing"), t._("Outcome")):
        table.add_column(column)
    for ritual in status.rituals:
        upcoming = _moment(ritual.next_firing, t) if ritual.next_firing else MISSING
        last = _moment(ritual.last_scheduled, t) if ritual.last_scheduled else t._("never ran")
        outcome = ritual.last_summary or ritual.last_status or ""
        table.add_row(
            ritual.ritual_id,
            ritual.kind,
            upcoming if ritual.enabled else t._("disabled"),
            last,
            escape(outcome),
        )
    console.print(table)
    for queue in status.queues:
        parts = [t._("{queue}: {n} waiting", queue=t._(queue.name), n=t.number(queue.waiting))]
        if queue.oldest_age is not None:
            parts.append(t._("oldest waiting {age}", age=_age(queue.oldest_age, t)))
        if queue.failed and queue.last_failure:
            parts.append(
                t._(
                    "{n} failed or rejected (latest: {error})",
                    n=t.number(queue.failed),
                    error=queue.last_failure,
                )
            )
        elif queue.failed:
            parts.append(t._("{n} failed or rejected", n=t.number(queue.failed)))
        console.print(escape(", ".join(parts)), highlight=False)
    if status.last_sync is not None:
        synced = t._("{day} {time} UTC", day=t.date(status.last_sync), time=t.clock(status.last_sync))
    else:
        synced = t._("never")
    console.print(
        t.n_(
            "Mirror: {n} deal, last sync {synced}; pipeline history: {states} states",
            "Mirror: {n} deals, last sync {synced}; pipeline history: {states} states",
            status.mirrored_deals,
            synced=synced,
            states=t.number(status.history_rows),
        ),
        highlight=False,
    )
    for health in status.health:
        if health.problem is None:
            console.print(t._("{name}: [green]ok[/green]", name=escape(health.name)), highlight=False)
        else:
            console.print(
                t._("{name}: [red]{problem}[/red]", name=escape(health.name), problem=escape(health.problem)),
                highlight=False,
            )
    if status.crm_budget is not None:
        _show_budget(console, status.crm_budget, t)
    if not slack_configured:
        console.print(t._("Slack: not configured (SLACK_BOT_TOKEN is not set)"), highlight=False)


def _show_budget(console: Console, budget: ApiBudget, t: Translator) -> None:
    parts = [
        t._(
            "CRM allowance: Drumbeat allows itself {n} requests every {seconds} s",
            n=t.number(budget.allowed_per_window),
            seconds=t.number(budget.window_seconds),
        )
    ]
    if budget.portal_remaining is not None and budget.portal_max is not None:
        parts.append(
            t._(
                "the portal has {remaining} of {most} left in this window",
                remaining=t.number(budget.portal_remaining),
                most=t.number(budget.portal_max),
            )
        )
    if budget.daily_remaining is not None and budget.daily:
        parts.append(
            t._(
                "today {remaining} of {most} left",
                remaining=t.number(budget.daily_remaining),
                most=t.number(budget.daily),
            )
        )
    console.print(escape("; ".join(parts)), highlight=False)
    left = budget.daily_left_share
    if budget.background_paused and left is not None:
        paused = t._(
            "Background syncs paused: the portal's daily API allowance is nearly spent ({left} left, "
            "under the {floor} floor); they resume when it resets, and people's updates still go through.",
            left=t.percent(left),
            floor=t.percent(budget.daily_floor),
        )
        console.print(f"[yellow]{escape(paused)}[/yellow]", highlight=False)


def _moment(moment: datetime, t: Translator) -> str:
    """`Mon 7 Dec 08:00 CET` / `lun. 7 déc. 08:00 CET`, in the ritual's zone."""
    return f"{t.day(moment)} {t.clock(moment)} {moment.tzname() or ''}".rstrip()


def _age(age: timedelta, t: Translator) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 60:
        return t._("{n} min", n=t.number(minutes))
    if minutes < 48 * 60:
        return t._("{n} h", n=t.number(minutes // 60))
    return t.n_("{n} day", "{n} days", minutes // 1440)
