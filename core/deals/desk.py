"""Deal look-ups and accepted changes: what `/deal`, buttons, modals and App Home all call.

Reads come from the local mirror (no CRM call while Slack waits); changes are checked, then stored
in the outbox with their audit trail. No Slack import here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session, sessionmaker

from core.deals import refusals
from core.deals.fields import FIELD_BY_KEY, FIELD_BY_NAME, STAGE, ParseContext
from core.deals.permissions import DealFacts, refusal
from core.deals.staleness import Review, is_stale, reviews_for
from core.deals.values import StageOption, ValueProblem, named
from core.i18n import MISSING, Translator, translator
from core.models import MirrorDeal, MirrorOwner, MirrorPipeline, MirrorStage
from core.people import Actor
from core.queues.outbox import ChangeRequest, enqueue

MAX_NOTE = 5_000


@dataclass(frozen=True, slots=True)
class DealView:
    id: str
    name: str
    owner_id: str | None
    owner_name: str
    pipeline_id: str
    pipeline_label: str
    stage_id: str
    stage_label: str
    is_closed: bool
    is_won: bool
    amount: Decimal | None
    currency: str | None
    close_date: date | None
    next_step: str | None
    last_review: datetime | None
    """When a person last reviewed the deal (`core.deals.staleness.last_review`)."""
    url: str
    last_activity_at: datetime | None = None
    created_at: datetime | None = None
    person_changed_at: datetime | None = None
    snoozed_until: date | None = None

    def days_untouched(self, now: datetime) -> int | None:
        """Whole days since the last review; None when never reviewed."""
        return None if self.last_review is None else max((now - self.last_review).days, 0)

    def is_past_close(self, today: date) -> bool:
        return not self.is_closed and self.close_date is not None and self.close_date < today

    def is_stale(self, now: datetime, stale_after_days: int, *, today: date) -> bool:
        """The one staleness rule (`core.deals.staleness.is_stale`); `today` is the owner's date,
        which a snooze is compared with. A closed deal is never stale."""
        return not self.is_closed and is_stale(
            self.last_review, self.snoozed_until, now=now, today=today, stale_after_days=stale_after_days
        )

    def stored(self, field: str) -> str | None:
        """An editable field's value as the outbox stores it (None when empty or not editable)."""
        known = FIELD_BY_NAME.get(field)
        return None if known is None else known.store(getattr(self, field))

    def display(self, field: str, *, t: Translator) -> str:
        known = FIELD_BY_NAME.get(field)
        if known is None:
            return MISSING
        return known.show(getattr(self, field), self.currency, {self.stage_id: self.stage_label}, t)


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    label: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class Accepted:
    entry_id: int
    deal: DealView
    changes: tuple[FieldChange, ...]
    note: str | None


@dataclass(frozen=True, slots=True)
class Refused:
    message: str


@dataclass(frozen=True, slots=True)
class Unchanged(Refused):
    """Nothing to store: every field already holds the value asked for (and there is no note)."""


@dataclass(frozen=True, slots=True)
class Proposal:
    """A change whose values are understood, not yet permitted nor stored."""

    deal: DealView
    changes: dict[str, str]
    note: str | None
    stages: Callable[[], list[StageOption]]


def permit(actor: Actor, proposal: Proposal) -> Refused | None:
    """None when `actor` may make this change; otherwise why not (see `core.deals.permissions`)."""
    deal = proposal.deal
    facts = DealFacts(deal.owner_id, deal.owner_name, deal.is_closed, deal.stage_label)
    reason = refusal(actor, facts, changes_fields=bool(proposal.changes))
    return None if reason is None else Refused(reason)


class DealDesk:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        deal_url: Callable[[str], str],
        clock: Callable[[], datetime],
        stale_after_days: int = 14,
    ) -> None:
        self._sessions = sessions
        self.deal_url = deal_url
        self._clock = clock
        self.stale_after_days = stale_after_days

    # --- reads ---

    def get(self, deal_id: str) -> DealView | None:
        views = self._views(MirrorDeal.id == deal_id)
        return views[0] if views else None

    def open_deals(
        self, pipelines: Iterable[str] | None = None, *, owner_ids: Iterable[str] | None = None
    ) -> list[DealView]:
        """Every open deal in the mirror, optionally only in these pipelines (ids) or of these owners."""
        condition: ColumnElement[bool] = MirrorDeal.is_closed.is_(False)
        if pipelines is not None:
            condition = and_(condition, MirrorDeal.pipeline_id.in_(list(pipelines)))
        if owner_ids is not None:
            condition = and_(condition, MirrorDeal.owner_id.in_(list(owner_ids)))
        return self._views(condition)

    def pipeline_ids(self, names: Iterable[str]) -> list[str]:
        """Pipeline ids for ids or labels (case-insensitive), as the rituals file names them."""
        names = list(names)
        with self._sessions() as session:
            pipelines = session.scalars(select(MirrorPipeline)).all()
        return [p.id for p in pipelines if named(p.id, p.label, names)]

    def my_open_deals(self, actor: Actor) -> list[DealView]:
        """Most urgent first: past close date, then longest untouched, then closing soonest."""
        if actor.owner_id is None:
            return []
        now = self._clock()
        today = actor.local_now(now).date()
        deals = self._views(and_(MirrorDeal.owner_id == actor.owner_id, MirrorDeal.is_closed.is_(False)))
        return sorted(deals, key=lambda d: urgency(d, now, today))

    def find(self, query: str, limit: int = 100) -> list[DealView]:
        """Deals whose name holds every word of the query; open ones first, then by name."""
        words = [w for w in query.lower().split() if w]
        if not words:
            return []
        condition = and_(*(func.lower(MirrorDeal.name).contains(w, autoescape=True) for w in words))
        deals = self._views(condition)
        exact = [d for d in deals if d.name.lower() == query.lower().strip()]
        if len(exact) == 1:
            return exact
        return sorted(deals, key=lambda d: (d.is_closed, d.name.lower()))[:limit]

    def stage_options(self, pipeline_id: str) -> list[StageOption]:
        with self._sessions() as session:
            stages = session.scalars(
                select(MirrorStage)
                .where(MirrorStage.pipeline_id == pipeline_id)
                .order_by(MirrorStage.display_order)
            ).all()
        return [StageOption(id=s.id, label=s.label, is_closed=s.is_closed, is_won=s.is_won) for s in stages]

    def closed_lost_stage(self, pipeline_id: str) -> StageOption | None:
        return next((s for s in self.stage_options(pipeline_id) if s.is_closed and not s.is_won), None)

    # --- changes ---

    def accept(
        self,
        actor: Actor,
        deal_or_id: DealView | str,
        raw_changes: Iterable[tuple[str, str]],
        note: str | None,
        *,
        source: str,
        response_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted | Refused:
        """Every change takes three steps: check its values, permit it, store it in the outbox
        (the caller acks Slack afterwards). The first step that says no is the answer."""
        proposal = self.check(actor, deal_or_id, raw_changes, note)
        if isinstance(proposal, Refused):
            return proposal
        refused = permit(actor, proposal)
        if refused is not None:
            return refused
        return self.enqueue(
            actor, proposal, source=source, response_url=response_url, idempotency_key=idempotency_key
        )

    def check(
        self,
        actor: Actor,
        deal_or_id: DealView | str,
        raw_changes: Iterable[tuple[str, str]],
        note: str | None,
    ) -> Proposal | Refused:
        """The change with its values understood (stage ids, amounts, dates in the actor's today)."""
        deal = self.get(deal_or_id) if isinstance(deal_or_id, str) else deal_or_id
        if deal is None:
            return Refused(actor.t._(refusals.DEAL_GONE))
        stages = _Lazy(lambda: self.stage_options(deal.pipeline_id))
        today = actor.local_now(self._clock()).date()
        changes, problems = self._resolve(deal, list(raw_changes), stages, today=today, t=actor.t)
        if note is not None and not note.strip():
            problems.append(
                actor.t._('The note is empty: write something after `note`, e.g. note "Met the CFO".')
            )
        if note is not None and len(note) > MAX_NOTE:
            problems.append(
                actor.t._(
                    "The note is too long ({length} characters; {limit} at most).",
                    length=actor.t.number(len(note)),
                    limit=actor.t.number(MAX_NOTE),
                )
            )
        if problems:
            return Refused("\n".join(problems))
        return Proposal(deal, changes, note, stages)

    def enqueue(
        self,
        actor: Actor,
        proposal: Proposal,
        *,
        source: str,
        response_url: str | None = None,
        idempotency_key: str | None = None,
    ) -> Accepted | Unchanged:
        """Store a permitted change in the outbox, leaving out the fields that already hold its value."""
        deal, note = proposal.deal, proposal.note
        unchanged = {f: v for f, v in proposal.changes.items() if deal.stored(f) == v}
        changes = {f: v for f, v in proposal.changes.items() if f not in unchanged}
        if not changes and not note:
            t = actor.t
            return Unchanged(
                refusals.nothing_to_change(
                    deal.name, [(_label(f, t), deal.display(f, t=t)) for f in unchanged], t=t
                )
            )
        before = {f: deal.stored(f) for f in changes}
        with self._sessions.begin() as session:
            entry_id = enqueue(
                session,
                ChangeRequest(
                    deal_id=deal.id,
                    deal_name=deal.name,
                    changes=changes,
                    before=before,
                    note=note.strip() if note else None,
                    requested_by=actor.slack_id,
                    source=source,
                    response_url=response_url,
                    idempotency_key=idempotency_key,
                ),
                now=self._clock(),
            )
        stages = proposal.stages() if STAGE in changes else []
        described = self.describe(deal, changes, before, t=actor.t, stages=stages)
        return Accepted(entry_id, deal, described, note.strip() if note else None)

    def describe(
        self,
        deal: DealView,
        changes: dict[str, str],
        before: dict[str, str | None],
        *,
        t: Translator,
        stages: Sequence[StageOption] | None = None,
    ) -> tuple[FieldChange, ...]:
        """Before -> after for display in `t`'s language, from the raw values an outbox entry keeps."""
        if stages is None:
            stages = self.stage_options(deal.pipeline_id)
        stage_labels = {s.id: s.label for s in stages}
        return tuple(
            FieldChange(
                f,
                _label(f, t),
                MISSING if before.get(f) is None else _display(f, str(before[f]), deal, stage_labels, t),
                _display(f, v, deal, stage_labels, t),
            )
            for f, v in changes.items()
        )

    def _resolve(
        self,
        deal: DealView,
        raw_changes: Sequence[tuple[str, str]],
        stages: Callable[[], list[StageOption]],
        *,
        today: date,
        t: Translator | None = None,
    ) -> tuple[dict[str, str], list[str]]:
        changes: dict[str, str] = {}
        problems: list[str] = []
        context = ParseContext(today=today, stages=stages, t=t or translator("en"))
        for key, raw in raw_changes:
            field = FIELD_BY_KEY.get(key) or FIELD_BY_NAME.get(key)
            if field is None:  # an alias's CRM property, written as it is
                changes[key] = raw
                continue
            try:
                changes[field.name] = field.parse(raw, context)
            except ValueProblem as problem:
                problems.append(problem.message)
        return changes, problems

    def _views(self, condition: object) -> list[DealView]:
        """Deals with their stage, pipeline and owner, and their last review worked out once here,
        so every reader of staleness sees the same rule."""
        with self._sessions() as session:
            rows = session.execute(
                select(MirrorDeal, MirrorStage, MirrorPipeline, MirrorOwner)
                .outerjoin(
                    MirrorStage,
                    and_(
                        MirrorStage.pipeline_id == MirrorDeal.pipeline_id,
                        MirrorStage.id == MirrorDeal.stage_id,
                    ),
                )
                .outerjoin(MirrorPipeline, MirrorPipeline.id == MirrorDeal.pipeline_id)
                .outerjoin(MirrorOwner, MirrorOwner.id == MirrorDeal.owner_id)
                .where(condition)  # type: ignore[arg-type]
            ).all()
            reviews = reviews_for(session, [deal for deal, *_ in rows])
        return [
            self._view(deal, stage, pipeline, owner, reviews[deal.id])
            for deal, stage, pipeline, owner in rows
        ]

    def _view(
        self,
        deal: MirrorDeal,
        stage: MirrorStage | None,
        pipeline: MirrorPipeline | None,
        owner: MirrorOwner | None,
        review: Review,
    ) -> DealView:
        owner_name = owner.name if owner else "nobody"
        return DealView(
            id=deal.id,
            name=deal.name,
            owner_id=deal.owner_id,
            owner_name=owner_name,
            pipeline_id=deal.pipeline_id,
            pipeline_label=pipeline.label if pipeline else deal.pipeline_id,
            stage_id=deal.stage_id,
            stage_label=stage.label if stage else deal.stage_id,
            is_closed=deal.is_closed,
            is_won=deal.is_won,
            amount=deal.amount,
            currency=deal.currency,
            close_date=deal.close_date,
            next_step=deal.next_step,
            last_review=review.last_review,
            url=self.deal_url(deal.id),
            last_activity_at=deal.last_activity_at,
            created_at=deal.created_at,
            person_changed_at=deal.person_changed_at,
            snoozed_until=review.snoozed_until,
        )


def urgency(deal: DealView, now: datetime, today: date) -> tuple[int, float, date]:
    """Sort key: past close date first, then longest untouched, then closing soonest."""
    untouched = deal.days_untouched(now)
    return (
        0 if deal.is_past_close(today) else 1,
        -(untouched if untouched is not None else 10_000),
        deal.close_date or (today + timedelta(days=36_500)),
    )


def _label(field: str, t: Translator) -> str:
    known = FIELD_BY_NAME.get(field)
    return t._(known.label) if known is not None else field


def _display(field: str, raw: str, deal: DealView, stage_labels: dict[str, str], t: Translator) -> str:
    known = FIELD_BY_NAME.get(field)
    if known is None:  # a CRM property from an alias: shown as typed
        return raw
    return known.show(known.load(raw), deal.currency, stage_labels, t)


class _Lazy:
    """A value computed on first use, then reused (stage lists are read at most once a request)."""

    def __init__(self, compute: Callable[[], list[StageOption]]) -> None:
        self._compute = compute
        self._value: list[StageOption] | None = None

    def __call__(self) -> list[StageOption]:
        if self._value is None:
            self._value = self._compute()
        return self._value
