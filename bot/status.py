"""`drumbeat status` underneath: what an admin checks first. Rituals with their next firing and
last run, the queues (CRM updates, commands, DMs), the mirror, and whether the CRM and Slack accept
their tokens. No Slack import: the Slack check is handed in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

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
from integrations.base import CRM, CrmError
from rituals.config import RitualBase, RitualsConfig, next_firings

__all__ = [
    "Health",
    "QueueDepth",
    "RitualStatus",
    "Status",
    "crm_access_problem",
    "crm_scopes_problem",
    "gather_status",
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
        queues = [
            _queue(
                session, "CRM updates (outbox)", OutboxEntry.status, OutboxEntry.created_at, now, "pending"
            ),
            _queue(
                session,
                "/deal commands",
                ReceivedCommand.status,
                ReceivedCommand.received_at,
                now,
                "received",
            ),
            _queue(session, "DMs", PendingDM.status, PendingDM.send_after, now, "pending"),
            _queue(session, "deal alert posts", AlertPost.status, AlertPost.created_at, now, "pending"),
        ]
        mirrored = session.scalar(select(func.count()).select_from(MirrorDeal)) or 0
        history = session.scalar(select(func.count()).select_from(DealHistory)) or 0
        deals_state = session.get(SyncState, "deals")
    health = [Health(crm_label[:1].upper() + crm_label[1:], _crm_problem(crm))]
    if slack_problem is not None:
        health.append(Health("Slack", slack_problem()))
    return Status(
        rituals=rituals,
        queues=queues,
        mirrored_deals=mirrored,
        history_rows=history,
        last_sync=deals_state.last_sync_at if deals_state else None,
        health=health,
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


def _queue(
    session: Session,
    name: str,
    status: InstrumentedAttribute[str],
    since: InstrumentedAttribute[datetime],
    now: datetime,
    waiting_status: str,
) -> QueueDepth:
    rows: dict[str, int] = dict(session.execute(select(status, func.count()).group_by(status)).all())
    oldest = session.scalar(select(func.min(since)).where(status == waiting_status))
    age = None
    if oldest is not None:
        age = max(now - oldest, timedelta(0))
    failed = sum(n for s, n in rows.items() if s in ("failed", "rejected"))
    return QueueDepth(name, int(rows.get(waiting_status, 0)), age, int(failed))


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
