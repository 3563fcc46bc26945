"""Fill the local mirror of deals, pipelines and owners from the CRM; rituals read the mirror.

The first run copies everything; later runs ask only for deals modified since the last one (minus
an overlap window, since CRM search indexes lag a little). Pipelines and owners are refreshed on a
full run, when a deal names one the mirror does not know, or when they are older than a few hours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.mirror.history import end_history, prune_history, record_states, start_from_mirror
from core.models import (
    AlertMatch,
    Base,
    DealHistory,
    MirrorDeal,
    MirrorOwner,
    MirrorPipeline,
    MirrorStage,
    SyncState,
)
from core.sql import dialect_insert
from integrations.base import CRM, Deal, background_calls

OVERLAP = timedelta(minutes=5)
HISTORY_RETENTION = timedelta(weeks=26)
LOOKUPS_MAX_AGE = timedelta(hours=6)
DEALS = "deals"
LOOKUPS = "lookups"

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True, slots=True)
class SyncResult:
    full: bool
    deals_read: int
    deals_changed: int
    deals_removed: int
    lookups_refreshed: bool
    high_water_mark: datetime | None


def sync_mirror(
    crm: CRM,
    sessions: sessionmaker[Session],
    *,
    now: datetime,
    full: bool = False,
    progress: Progress | None = None,
    history_retention: timedelta = HISTORY_RETENTION,
) -> SyncResult:
    """Refresh the mirror and, in the same transactions, the pipeline history (see core.mirror.history).

    Its CRM calls are background work: they leave room for people's writes, and raise CrmPaused
    while the CRM's daily allowance is under its floor."""
    with background_calls():
        return _sync_mirror(
            crm, sessions, now=now, full=full, progress=progress, history_retention=history_retention
        )


def _sync_mirror(
    crm: CRM,
    sessions: sessionmaker[Session],
    *,
    now: datetime,
    full: bool,
    progress: Progress | None,
    history_retention: timedelta,
) -> SyncResult:
    with sessions() as session:
        state = session.get(SyncState, DEALS)
        lookups_state = session.get(SyncState, LOOKUPS)
        known_stages = {(p, s) for p, s in session.execute(select(MirrorStage.pipeline_id, MirrorStage.id))}
        known_owners = set(session.scalars(select(MirrorOwner.id)))
    crm_changed = state is not None and state.crm != crm.name
    full = full or state is None or state.high_water_mark is None or crm_changed
    if crm_changed:
        _wipe_mirror(sessions)
        known_stages, known_owners = set(), set()

    lookups_refreshed = False
    if (
        full
        or lookups_state is None
        or lookups_state.last_sync_at is None
        or now - lookups_state.last_sync_at > LOOKUPS_MAX_AGE
    ):
        known_stages, known_owners = _refresh_lookups(crm, sessions, now)
        lookups_refreshed = True

    if not full:
        with sessions.begin() as session:
            start_from_mirror(session, now)  # a mirror older than its history (upgrade from 0005)
    since = (
        None if full or state is None or state.high_water_mark is None else state.high_water_mark - OVERLAP
    )
    high_water_mark = None if full or state is None else state.high_water_mark
    read = changed = 0
    seen: set[str] = set()
    total: int | None = None
    lookups = _Lookups(known_stages, known_owners, refreshed=lookups_refreshed)
    for page in crm.iter_deals(modified_since=since):
        total = page.total if page.total is not None else total
        if page.deals:
            stored = _store_deals(crm, sessions, page.deals, now, lookups, full=full)
            changed += len(stored)
            read += len(page.deals)
            seen.update(d.id for d in page.deals)
            newest = max(d.last_modified_at for d in page.deals)
            high_water_mark = newest if high_water_mark is None else max(high_water_mark, newest)
        if progress is not None:
            progress(read, total)

    removed = 0
    with sessions.begin() as session:
        if full:
            # Deals the CRM no longer returns (deleted or archived) leave the mirror.
            gone = [deal_id for deal_id in session.scalars(select(MirrorDeal.id)) if deal_id not in seen]
            drop_deals(session, gone, now)
            removed = len(gone)
        prune_history(session, now=now, retention=history_retention)
        _save_state(session, DEALS, crm.name, now, high_water_mark=high_water_mark, full=full)
    return SyncResult(
        full=full,
        deals_read=read,
        deals_changed=changed,
        deals_removed=removed,
        lookups_refreshed=lookups.refreshed,
        high_water_mark=high_water_mark,
    )


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What a refresh of named deals did: ids are the CRM's."""

    deals_read: int
    changed: tuple[str, ...]  # new to the mirror or modified since it last saw them
    removed: tuple[str, ...]  # gone from the CRM, dropped from the mirror
    lookups_refreshed: bool
    skipped: bool = False  # the mirror was never filled from this CRM: the first sync reads everything


def refresh_deals(
    crm: CRM, sessions: sessionmaker[Session], deal_ids: Sequence[str], *, now: datetime
) -> RefreshResult:
    """Re-read the named deals from the CRM (e.g. a webhook said they changed) and store them exactly
    as a sync page is stored: mirror, history, person changes, lookups when a stage or owner is new.

    The CRM's answer is the truth, whatever the caller was told; deals the CRM no longer returns
    leave the mirror. The sync's high-water mark is left alone: this is not a sweep.
    """
    ids = list(dict.fromkeys(deal_ids))
    with sessions() as session:
        state = session.get(SyncState, DEALS)
        known_stages = {(p, s) for p, s in session.execute(select(MirrorStage.pipeline_id, MirrorStage.id))}
        known_owners = set(session.scalars(select(MirrorOwner.id)))
    if not ids or state is None or state.high_water_mark is None or state.crm != crm.name:
        return RefreshResult(0, (), (), lookups_refreshed=False, skipped=bool(ids))
    with background_calls():  # what a webhook names: a sync of a few deals
        deals = crm.get_deals(ids)
        lookups = _Lookups(known_stages, known_owners, refreshed=False)
        changed = (
            _store_deals(crm, sessions, deals, now, lookups, full=False, newer_only=True) if deals else []
        )
    returned = {d.id for d in deals}
    with sessions.begin() as session:
        held = set(session.scalars(select(MirrorDeal.id).where(MirrorDeal.id.in_(ids))))
        gone = [deal_id for deal_id in ids if deal_id not in returned and deal_id in held]
        drop_deals(session, gone, now)
    return RefreshResult(
        deals_read=len(deals),
        changed=tuple(changed),
        removed=tuple(gone),
        lookups_refreshed=lookups.refreshed,
    )


def _refresh_lookups(
    crm: CRM, sessions: sessionmaker[Session], now: datetime
) -> tuple[set[tuple[str, str]], set[str]]:
    pipelines = crm.fetch_pipelines()
    owners = crm.fetch_owners()
    with sessions.begin() as session:
        session.execute(delete(MirrorStage))
        session.execute(delete(MirrorPipeline))
        session.execute(delete(MirrorOwner))
        for pipeline in pipelines:
            session.add(
                MirrorPipeline(id=pipeline.id, label=pipeline.label, display_order=pipeline.display_order)
            )
        session.flush()
        for pipeline in pipelines:
            for stage in pipeline.stages:
                session.add(
                    MirrorStage(
                        pipeline_id=pipeline.id,
                        id=stage.id,
                        label=stage.label,
                        display_order=stage.display_order,
                        probability=stage.probability,
                        is_closed=stage.is_closed,
                        is_won=stage.is_won,
                    )
                )
        for owner in owners:
            session.add(
                MirrorOwner(
                    id=owner.id,
                    email=owner.email.lower() if owner.email else None,
                    first_name=owner.first_name,
                    last_name=owner.last_name,
                    archived=owner.archived,
                    teams=[{"id": t.id, "name": t.name} for t in owner.teams],
                )
            )
        _save_state(session, LOOKUPS, crm.name, now, high_water_mark=None, full=True)
    stages = {(p.id, s.id) for p in pipelines for s in p.stages}
    return stages, {o.id for o in owners}


def _wipe_mirror(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        # Alert matches name history rows, whose ids a new history may reuse (SQLite).
        for model in (
            AlertMatch,
            MirrorDeal,
            DealHistory,
            MirrorStage,
            MirrorPipeline,
            MirrorOwner,
            SyncState,
        ):
            session.execute(delete(model))


def _save_state(
    session: Session,
    object_type: str,
    crm: str,
    now: datetime,
    *,
    high_water_mark: datetime | None,
    full: bool,
) -> None:
    state = session.get(SyncState, object_type) or SyncState(object_type=object_type, crm=crm)
    state.crm = crm
    state.last_sync_at = now
    if high_water_mark is not None:
        state.high_water_mark = high_water_mark
    if full:
        state.last_full_sync_at = now
    session.add(state)


@dataclass(slots=True)
class _Lookups:
    """The stages and owners the mirror knows, and whether this run already re-read them."""

    stages: set[tuple[str, str]]
    owners: set[str]
    refreshed: bool


def _store_deals(
    crm: CRM,
    sessions: sessionmaker[Session],
    deals: Sequence[Deal],
    now: datetime,
    lookups: _Lookups,
    *,
    full: bool,
    newer_only: bool = False,
) -> list[str]:
    """Store deals just read from the CRM (a sync page, or a refresh) in the mirror and its history;
    returns the ids new to the mirror or modified since it last saw them.

    `newer_only` keeps a deal the mirror already holds in a later version (a refresh that read it
    just before a sync did must not put the older state back).
    """
    unknown = any(
        (d.pipeline_id, d.stage_id) not in lookups.stages or (d.owner_id and d.owner_id not in lookups.owners)
        for d in deals
    )
    if unknown and not lookups.refreshed:
        lookups.stages, lookups.owners = _refresh_lookups(crm, sessions, now)
        lookups.refreshed = True
    with sessions.begin() as session:
        known = _known_versions(session, deals)
        if newer_only:
            deals = [d for d in deals if d.id not in known or known[d.id] <= d.last_modified_at]
        fresh = [d.id for d in deals if d.id not in known]
        edited = [d.id for d in deals if d.id in known and known[d.id] != d.last_modified_at]
        _upsert(session, MirrorDeal, [_deal_row(d, now) for d in deals], ["id"])
        record_states(session, deals, now)
    if edited and not full:
        # Only deals seen before and changed since: was it a person, in the CRM itself?
        by_person = crm.person_changes(edited)
        with sessions.begin() as session:
            for deal_id, when in by_person.items():
                session.execute(
                    update(MirrorDeal).where(MirrorDeal.id == deal_id).values(person_changed_at=when)
                )
    return fresh + edited


def _known_versions(session: Session, deals: Sequence[Deal]) -> dict[str, datetime]:
    """The mirror's last_modified_at of those deals it holds; the overlap window re-reads others."""
    rows = session.execute(
        select(MirrorDeal.id, MirrorDeal.last_modified_at).where(MirrorDeal.id.in_([d.id for d in deals]))
    )
    known: dict[str, datetime] = dict(rows.all())
    return known


def _deal_row(deal: Deal, now: datetime) -> dict[str, Any]:
    return {
        "id": deal.id,
        "name": deal.name[:500],
        "owner_id": deal.owner_id,
        "pipeline_id": deal.pipeline_id,
        "stage_id": deal.stage_id,
        "amount": deal.amount,
        "currency": deal.currency,
        "close_date": deal.close_date,
        "next_step": deal.next_step,
        "last_activity_at": deal.last_activity_at,
        "last_modified_at": deal.last_modified_at,
        "created_at": deal.created_at,
        "is_closed": deal.is_closed,
        "is_won": deal.is_won,
        "closed_lost_reason": deal.closed_lost_reason,
        "synced_at": now,
    }


def _upsert(session: Session, model: type[Base], rows: Sequence[dict[str, Any]], keys: Iterable[str]) -> None:
    """INSERT … ON CONFLICT DO UPDATE on SQLite and PostgreSQL alike."""
    if not rows:
        return
    insert = dialect_insert(session)
    statement = insert(model)
    key_set = set(keys)
    updates = {c: statement.excluded[c] for c in rows[0] if c not in key_set}
    session.execute(statement.on_conflict_do_update(index_elements=list(key_set), set_=updates), rows)


def store_deals(session: Session, deals: Sequence[Deal], now: datetime) -> None:
    """Write deals as the CRM just returned them into the mirror (after Drumbeat changed them)."""
    if deals:
        _upsert(session, MirrorDeal, [_deal_row(deal, now) for deal in deals], ["id"])
        record_states(session, deals, now)


def as_written(
    session: Session,
    written: Mapping[str, Mapping[str, object]],
    activity: Mapping[str, datetime] | None = None,
) -> dict[str, Deal]:
    """The deals as the mirror holds them with what the CRM answered to a write laid over them (no
    read after a write). `written`: the `Deal` fields the CRM returned, by deal; `activity`: when a
    note just logged on a deal was dated (its last activity moves to it, as the CRM's does). A stage
    the answer gives without its closed and won flags takes them from the mirror's stages. Deals
    the mirror does not hold are left out (the caller reads them)."""
    activity = activity or {}
    ids = sorted(set(written) | set(activity))
    rows = session.scalars(select(MirrorDeal).where(MirrorDeal.id.in_(ids))).all()
    deals: dict[str, Deal] = {}
    for row in rows:
        fields = dict(written.get(row.id, {}))
        deal = replace(_mirrored(row), **fields)  # type: ignore[arg-type]
        if "stage_id" in fields and "is_closed" not in fields:
            stage = session.get(MirrorStage, (deal.pipeline_id, deal.stage_id))
            if stage is not None:
                deal = replace(deal, is_closed=stage.is_closed, is_won=stage.is_won)
        noted = activity.get(row.id)
        if noted is not None and (deal.last_activity_at is None or deal.last_activity_at < noted):
            deal = replace(deal, last_activity_at=noted)
        deals[row.id] = deal
    return deals


def _mirrored(row: MirrorDeal) -> Deal:
    return Deal(
        id=row.id,
        name=row.name,
        owner_id=row.owner_id,
        pipeline_id=row.pipeline_id,
        stage_id=row.stage_id,
        amount=row.amount,
        currency=row.currency,
        close_date=row.close_date,
        next_step=row.next_step,
        last_activity_at=row.last_activity_at,
        last_modified_at=row.last_modified_at,
        created_at=row.created_at,
        is_closed=row.is_closed,
        is_won=row.is_won,
        closed_lost_reason=row.closed_lost_reason,
    )


def drop_deals(session: Session, deal_ids: Sequence[str], now: datetime) -> None:
    """Deals gone from the CRM leave the mirror; their history ends now."""
    for start in range(0, len(deal_ids), 500):
        session.execute(delete(MirrorDeal).where(MirrorDeal.id.in_(deal_ids[start : start + 500])))
    end_history(session, deal_ids, now)
