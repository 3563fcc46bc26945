"""The built-in demo CRM: a small CRM kept in Drumbeat's own database, so everything runs offline."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from integrations.base import (
    EDITABLE_PROPERTIES,
    BatchResult,
    CrmNotFound,
    CrmRejected,
    CrmUnavailable,
    Deal,
    DealPage,
    DealUpdate,
    DealWritten,
    Note,
    NoteDraft,
    Owner,
    Pipeline,
    Stage,
)
from integrations.demo_store import DemoDeal, DemoNote, DemoOwner, DemoPipeline, DemoStage

PAGE_SIZE = 200
DEMO_DEAL_PROPERTIES: frozenset[str] = frozenset(
    {
        "dealname",
        *EDITABLE_PROPERTIES.values(),
        "pipeline",
        "hubspot_owner_id",
        "deal_currency_code",
        "closed_lost_reason",
        "notes_last_updated",
        "createdate",
        "hs_lastmodifieddate",
    }
)
"""The deal properties the demo CRM keeps (HubSpot's names for them); it has no custom ones."""


class DemoCRM:
    name = "demo"

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def missing_scopes(self) -> list[str]:
        return []  # the demo CRM has no permissions to grant

    def check_access(self) -> None:
        try:
            with self._sessions() as session:
                session.execute(select(DemoOwner.id).limit(1))
        except DBAPIError:
            raise CrmUnavailable("The demo CRM's database is unreachable.") from None

    def fetch_pipelines(self) -> list[Pipeline]:
        with self._sessions() as session:
            pipelines = session.scalars(select(DemoPipeline).order_by(DemoPipeline.display_order)).all()
            stages = session.scalars(select(DemoStage).order_by(DemoStage.display_order)).all()
        return [
            Pipeline(
                id=p.id,
                label=p.label,
                display_order=p.display_order,
                stages=tuple(_stage(s) for s in stages if s.pipeline_id == p.id),
            )
            for p in pipelines
        ]

    def fetch_owners(self) -> list[Owner]:
        with self._sessions() as session:
            owners = session.scalars(select(DemoOwner).order_by(DemoOwner.id)).all()
        return [Owner(id=o.id, email=o.email, first_name=o.first_name, last_name=o.last_name) for o in owners]

    def fetch_deal_properties(self) -> set[str]:
        return set(DEMO_DEAL_PROPERTIES)

    def iter_deals(self, modified_since: datetime | None = None) -> Iterator[DealPage]:
        stages = self._stages()
        last_id = 0
        while True:
            with self._sessions() as session:
                query = select(DemoDeal).where(DemoDeal.id > last_id).order_by(DemoDeal.id).limit(PAGE_SIZE)
                if modified_since is not None:
                    query = query.where(DemoDeal.last_modified_at >= modified_since)
                rows = session.scalars(query).all()
            yield DealPage(deals=[_deal(r, stages) for r in rows], total=None)
            if len(rows) < PAGE_SIZE:
                return
            last_id = rows[-1].id

    def get_deal(self, deal_id: str) -> Deal:
        with self._sessions() as session:
            row = session.get(DemoDeal, _int_id(deal_id))
            if row is None:
                raise CrmNotFound(f"The demo CRM has no deal {deal_id}.")
            return _deal(row, self._stages())

    def get_deals(self, deal_ids: Sequence[str]) -> list[Deal]:
        ids = list(dict.fromkeys(i for i in (_maybe_int(d) for d in deal_ids) if i is not None))
        if not ids:
            return []
        stages = self._stages()
        with self._sessions() as session:
            rows = session.scalars(select(DemoDeal).where(DemoDeal.id.in_(ids)).order_by(DemoDeal.id)).all()
            return [_deal(r, stages) for r in rows]

    def update_deal(self, deal_id: str, update: DealUpdate) -> Deal:
        stages = self._stages()
        with self._sessions.begin() as session:
            row = session.get(DemoDeal, _int_id(deal_id), with_for_update=True)
            if row is None:
                raise CrmNotFound(f"The demo CRM has no deal {deal_id}.")
            if update.extra:
                raise CrmRejected(f"The demo CRM has no field {', '.join(sorted(update.extra))}.")
            if update.stage_id is not None:
                if (row.pipeline_id, update.stage_id) not in stages:
                    raise CrmRejected(f"Stage {update.stage_id!r} is not in pipeline {row.pipeline_id!r}.")
                row.stage_id = update.stage_id
            if update.amount is not None:
                if update.amount < 0:
                    raise CrmRejected("The amount cannot be negative.")
                row.amount = update.amount
            if update.close_date is not None:
                row.close_date = update.close_date
            if update.next_step is not None:
                row.next_step = update.next_step
            if update.closed_lost_reason is not None:
                row.closed_lost_reason = update.closed_lost_reason
            row.last_modified_at = self._clock()
            return _deal(row, stages)

    def update_deals(self, updates: Mapping[str, DealUpdate]) -> BatchResult[DealWritten]:
        """One deal at a time: the demo CRM is a local table, with no requests to save."""
        result: BatchResult[DealWritten] = BatchResult()
        for deal_id, update in updates.items():
            try:
                deal = self.update_deal(deal_id, update)
            except (CrmRejected, CrmNotFound) as exc:
                result.refused[deal_id] = exc
            else:
                result.done[deal_id] = DealWritten(
                    deal_id, {f.name: getattr(deal, f.name) for f in fields(deal)}
                )
        return result

    def add_notes(self, notes: Sequence[NoteDraft], *, look_first: Collection[str] = ()) -> BatchResult[Note]:
        """One note at a time; its key is unique in the table, so a second write finds the first."""
        result: BatchResult[Note] = BatchResult()
        for note in notes:
            try:
                result.done[note.idempotency_key] = self.add_note(
                    note.deal_id, note.body, timestamp=note.timestamp, idempotency_key=note.idempotency_key
                )
            except (CrmRejected, CrmNotFound) as exc:
                result.refused[note.idempotency_key] = exc
        return result

    def add_note(self, deal_id: str, body: str, *, timestamp: datetime, idempotency_key: str) -> Note:
        try:
            with self._sessions.begin() as session:
                deal = session.get(DemoDeal, _int_id(deal_id), with_for_update=True)
                if deal is None:
                    raise CrmNotFound(f"The demo CRM has no deal {deal_id}.")
                note = DemoNote(
                    deal_id=deal.id, body=body, timestamp=timestamp, idempotency_key=idempotency_key
                )
                session.add(note)
                deal.last_activity_at = max(timestamp, deal.last_activity_at or timestamp)
                deal.last_modified_at = self._clock()
                session.flush()
                return Note(id=str(note.id), deal_id=deal_id, body=body, timestamp=timestamp)
        except IntegrityError:
            # Same key seen before: the first note stands.
            with self._sessions() as session:
                existing = session.scalars(
                    select(DemoNote).where(DemoNote.idempotency_key == idempotency_key)
                ).one()
                return Note(
                    id=str(existing.id), deal_id=deal_id, body=existing.body, timestamp=existing.timestamp
                )

    def notes(self, deal_id: str) -> list[Note]:
        with self._sessions() as session:
            rows = session.scalars(
                select(DemoNote).where(DemoNote.deal_id == _int_id(deal_id)).order_by(DemoNote.id)
            ).all()
        return [Note(id=str(n.id), deal_id=deal_id, body=n.body, timestamp=n.timestamp) for n in rows]

    def person_changes(self, deal_ids: list[str]) -> dict[str, datetime]:
        """The demo CRM has no UI of its own: every change comes through Drumbeat (and its audit)."""
        return {}

    def deal_url(self, deal_id: str) -> str:
        return f"https://demo.drumbeat.invalid/deals/{deal_id}"

    def api_budget(self) -> None:
        return None  # the demo CRM has no allowance

    def _stages(self) -> dict[tuple[str, str], DemoStage]:
        with self._sessions() as session:
            return {(s.pipeline_id, s.id): s for s in session.scalars(select(DemoStage))}


def _int_id(deal_id: str) -> int:
    try:
        return int(deal_id)
    except ValueError:
        raise CrmNotFound(f"The demo CRM has no deal {deal_id!r}.") from None


def _maybe_int(deal_id: str) -> int | None:
    try:
        return int(deal_id)
    except ValueError:
        return None


def _stage(s: DemoStage) -> Stage:
    return Stage(
        id=s.id,
        label=s.label,
        display_order=s.display_order,
        probability=s.probability,
        is_closed=s.is_closed,
        is_won=s.is_won,
    )


def _deal(row: DemoDeal, stages: dict[tuple[str, str], DemoStage]) -> Deal:
    stage = stages.get((row.pipeline_id, row.stage_id))
    return Deal(
        id=str(row.id),
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
        is_closed=bool(stage and stage.is_closed),
        is_won=bool(stage and stage.is_won),
        closed_lost_reason=row.closed_lost_reason,
    )
