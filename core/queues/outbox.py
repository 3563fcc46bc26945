"""The outbox: accepted changes are stored before Slack gets its ack, then applied to the CRM by workers.

Every `serve` process runs a worker: the leased queue's loop (`core.queues.leased`), so replicas never
apply one entry at the same time. A claim takes up to `CLAIM_SIZE` due entries (one per deal) and
writes them in as few requests as the CRM allows: one batch update of their deals, one batch of
their notes; the CRM's answer updates the mirror, with no read after the write. A value the CRM
refuses refuses only its own entry. A worker that dies mid-way stops renewing its lease, which runs
out within seconds, and the entries are applied again: the same values change nothing, and a note
carries its entry's idempotency key, looked for before an entry's second attempt writes it again,
so nothing is applied twice.

The last value wins, per field. Each entry has its place in its deal's order (`received_order`),
given when Slack's request was received, before the ack: a `/deal` update's is its received
command's id (2 * id), and a button's or modal's is just after the last command received before
it (2 * that id + 1); ties go by entry id. A deal's entries are applied one at a time (no entry is
claimed while another of the deal is in flight) and in that order (none while an earlier one
waits). An entry that only reached the outbox after a later one was applied (its command was
worked out late: a slow replica, a crash) is superseded field by field: the fields a later applied
entry set are dropped, the rest and its note are applied, and an entry with nothing left is
recorded as "superseded" with the reason, its person told that a newer update was saved first.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, func, insert, or_, select, text, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from core.deals.fields import FIELD_BY_NAME, FIELDS
from core.deals.refusals import DEAL_GONE
from core.i18n import N_
from core.mirror.sync import as_written, drop_deals, store_deals
from core.models import AuditEntry, OutboxEntry, ReceivedCommand
from core.queues.commands import command_of_key
from core.queues.leased import LEASE, LeasedQueue, QueueSpec, QueueWorker
from core.sql import dialect_insert
from integrations.base import (
    CRM,
    BatchResult,
    CrmAuthError,
    CrmError,
    CrmNotFound,
    CrmRejected,
    Deal,
    DealUpdate,
    DealWritten,
    Note,
    NoteDraft,
)

log = logging.getLogger(__name__)

MAX_UNEXPECTED_FAILURES = 5
MAX_BACKOFF = timedelta(minutes=10)
FIRST_BACKOFF = timedelta(seconds=5)
QUEUED_AFTER = timedelta(seconds=30)  # an update not in the CRM by then: its person hears it is queued
SWEEP_EVERY = 5.0  # seconds between two looks for such updates, per worker
# Outbox claims take this PostgreSQL advisory lock, so two replicas never claim two entries of one
# deal at once (each would see the other's entry unclaimed). Claims are short; the CRM call is not
# under it. SQLite has a single writer, and the claim's UPDATE re-checks what was selected.
CLAIM_LOCK = 0x0D12_0B0C
CLAIM_SIZE = 100  # HubSpot's largest batch: one claim is one batch update and one batch of notes

# Field names in `changes` are the editable fields' (core.deals.fields) and this one; anything else
# is a CRM property written as it is.
LOST_REASON = "closed_lost_reason"
# The person reads it in their language (`handlers.notify` translates it); the log keeps English.
UNEXPECTED = N_("Drumbeat hit an unexpected problem; an admin can find it in the logs")


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    deal_id: str
    deal_name: str
    changes: Mapping[str, str]
    before: Mapping[str, str | None]
    note: str | None
    requested_by: str
    source: str
    response_url: str | None = None
    idempotency_key: str | None = None  # the same key twice stores the change once


NoticeKind = Literal["done", "queued", "rejected", "superseded"]


@dataclass(frozen=True, slots=True)
class Notice:
    """What the person who asked should hear about their change."""

    kind: NoticeKind
    entry_id: int
    deal_id: str
    deal_name: str
    requested_by: str
    response_url: str | None
    changes: Mapping[str, str]
    before: Mapping[str, str | None]
    note: str | None
    after: Deal | None = None
    reason: str | None = None
    source: str = "slash"


Notifier = Callable[[Notice], None]


def enqueue(session: Session, request: ChangeRequest, *, now: datetime) -> int:
    """Store the change and its audit trail in the caller's transaction (commit before acking Slack).

    Core inserts, not the ORM: this runs before every acknowledgement, so it is kept cheap.
    """
    key = request.idempotency_key or secrets.token_hex(8)
    command = command_of_key(key)
    if command is not None:
        order = 2 * command
    else:  # a button or a modal: just after every command received before it
        order = 2 * (session.scalar(select(func.max(ReceivedCommand.id))) or 0) + 1
    inserted: int | None = session.execute(
        dialect_insert(session)(OutboxEntry)
        .values(
            idempotency_key=key,
            deal_id=request.deal_id,
            deal_name=request.deal_name[:500],
            changes=dict(request.changes),
            before=dict(request.before),
            note=request.note,
            requested_by=request.requested_by,
            source=request.source,
            response_url=request.response_url,
            received_order=order,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            told_queued=False,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxEntry.id)
    ).scalar()
    if inserted is None:  # stored already (a retried command): keep the first, audit once
        existing: int = session.execute(
            select(OutboxEntry.id).where(OutboxEntry.idempotency_key == key)
        ).scalar_one()
        return existing
    entry_id = inserted
    audit = [
        {"field": field, "old_value": request.before.get(field), "new_value": new}
        for field, new in request.changes.items()
    ]
    if request.note:
        audit.append({"field": "note", "old_value": None, "new_value": request.note})
    common = {
        "at": now,
        "slack_user": request.requested_by,
        "deal_id": request.deal_id,
        "source": request.source,
        "outbox_id": entry_id,
    }
    if audit:
        session.execute(insert(AuditEntry), [row | common for row in audit])
    return entry_id


def deal_update(changes: Mapping[str, str]) -> DealUpdate:
    return DealUpdate(
        **{f.name: f.load(changes[f.name]) for f in FIELDS if f.name in changes},
        closed_lost_reason=changes.get(LOST_REASON),
        extra={k: v for k, v in changes.items() if k not in FIELD_BY_NAME and k != LOST_REASON},
    )


def _before(a: Any, b: Any) -> ColumnElement[bool]:
    """Entry `a` comes before entry `b` in their deal's order."""
    return or_(a.received_order < b.received_order, and_(a.received_order == b.received_order, a.id < b.id))


def _in_order(now: datetime) -> Sequence[ColumnElement[bool]]:
    # One deal's changes reach the CRM in the order Slack delivered them, one at a time.
    other = aliased(OutboxEntry)
    same_deal = [other.deal_id == OutboxEntry.deal_id, other.status == "pending"]
    return (
        ~exists().where(*same_deal, _before(other, OutboxEntry)),
        ~exists().where(*same_deal, other.id != OutboxEntry.id, other.locked_until >= now),
    )


SPEC = QueueSpec(
    OutboxEntry,
    lease=LEASE,
    waiting="pending",
    done="done",
    dead="rejected",
    due_at="next_attempt_at",
    first_backoff=FIRST_BACKOFF,
    max_backoff=MAX_BACKOFF,
    max_attempts=MAX_UNEXPECTED_FAILURES,
    due=_in_order,
)


class Outbox(LeasedQueue[OutboxEntry]):
    """The outbox's outcomes, on top of the leased queue's claim."""

    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        super().__init__(SPEC, sessions, clock)
        self._clock = clock

    def _before_claim(self, session: Session) -> None:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK})

    def applied_after(self, entries: Sequence[OutboxEntry]) -> dict[int, set[str]]:
        """For each entry, the fields set by entries of its deal that come after it and were applied."""
        entry, later = aliased(OutboxEntry), aliased(OutboxEntry)
        query = (
            select(entry.id, later.changes)
            .join(later, and_(later.deal_id == entry.deal_id, later.status == "done", _before(entry, later)))
            .where(entry.id.in_([e.id for e in entries]))
        )
        newer: dict[int, set[str]] = {e.id: set() for e in entries}
        with self._sessions() as session:
            for entry_id, changes in session.execute(query):
                newer[entry_id].update(changes)
        return newer

    def as_written(
        self, written: Mapping[str, Mapping[str, object]], noted: Mapping[str, datetime]
    ) -> dict[str, Deal]:
        """The deals as the mirror holds them with the CRM's answer to a write laid over them."""
        with self._sessions() as session:
            return as_written(session, written, noted)

    def supersede(self, entry: OutboxEntry, reason: str) -> bool:
        """Nothing of it is left to apply: a later update of the deal set every field it sets."""
        return self._record(
            entry, {"status": "superseded", "last_error": reason, "completed_at": self._clock()}, None
        )

    def take_delayed(self) -> list[OutboxEntry]:
        """Updates waiting longer than `QUEUED_AFTER` whose person was not told yet, marked told
        (one replica wins each)."""
        now = self._clock()
        waiting = [
            OutboxEntry.status == "pending",
            OutboxEntry.told_queued.is_(False),
            OutboxEntry.created_at <= now - QUEUED_AFTER,
        ]
        with self._sessions() as session:  # a read first: most looks find nothing, and write nothing
            if session.scalar(select(OutboxEntry.id).where(*waiting).limit(1)) is None:
                return []
        with self._sessions.begin() as session:
            ids = session.scalars(
                update(OutboxEntry).where(*waiting).values(told_queued=True).returning(OutboxEntry.id)
            ).all()
            rows = list(session.scalars(select(OutboxEntry).where(OutboxEntry.id.in_(ids))))
            session.expunge_all()
        return rows

    def complete(self, done: Sequence[tuple[OutboxEntry, Deal, Sequence[str]]]) -> list[OutboxEntry]:
        """Record each success (with the fields a later update had set first, not written) and its
        deal in the mirror, in one transaction; returns the entries this worker still held (the
        others' new holders record and tell them)."""
        now = self._clock()
        deals = {entry.id: deal for entry, deal, _ in done}

        def outcome(deal: Deal, superseded: Sequence[str]) -> dict[str, Any]:
            why = f"superseded by a later update: {', '.join(superseded)}" if superseded else None
            return {"completed_at": now, "result": _deal_summary(deal), "last_error": why}

        return self.finish_many(
            [(entry, outcome(deal, superseded)) for entry, deal, superseded in done],
            also=lambda session, held: store_deals(session, [deals[e.id] for e in held], now),
        )

    def reject(self, entry: OutboxEntry, reason: str, *, gone: bool = False) -> bool:
        """Record a permanent refusal; `gone` also drops the deal from the mirror (deleted in the CRM)."""
        now = self._clock()
        return self.dead_letter(
            entry,
            reason,
            {"completed_at": now},
            also=(lambda session: drop_deals(session, [entry.deal_id], now)) if gone else None,
        )

    def retry_later(self, entry: OutboxEntry, reason: str) -> bool:
        """Schedule another attempt; True the first time, so the person hears it is queued once."""
        return self.retry(entry, reason, values={"told_queued": True}) and not entry.told_queued


def outbox_worker(
    outbox: Outbox,
    crm: CRM,
    notify: Notifier,
    *,
    threads: int = 4,
    poll_interval: float = 0.5,
    between_items: Callable[[], None] = lambda: None,
    wakeup: threading.Event | None = None,
    after_claim: Callable[[Sequence[Notice]], None] = lambda notices: None,
) -> QueueWorker[OutboxEntry]:
    """Threads that apply due entries to the CRM, a claim at a time, and tell people how it went
    (every `serve` runs one); `after_claim` gets a claim's notices once they are all told (to
    refresh what each person sees once, not once per update)."""
    apply = ApplyToCrm(outbox, crm, notify, after_claim)
    return QueueWorker(
        outbox,
        apply,
        name="outbox",
        threads=threads,
        poll_interval=poll_interval,
        batch=CLAIM_SIZE,
        together=True,
        between_items=between_items,
        wakeup=wakeup,
        housekeeping=apply.tell_delayed,
    )


@dataclass
class Write:
    """One claimed entry on its way to the CRM: what is left of it to write, and how it went."""

    entry: OutboxEntry
    changes: dict[str, str]
    superseded: list[str]
    written: DealWritten | None = None
    note: Note | None = None
    refused: CrmError | None = None  # the CRM refused it: the person is told why
    failed: Exception | None = None  # not written this time: tried again later

    @property
    def ready(self) -> bool:
        return self.refused is None and self.failed is None


class ApplyToCrm:
    """Working one claim of outbox entries: write them to the CRM in batches, record each outcome,
    tell each person."""

    def __init__(
        self,
        outbox: Outbox,
        crm: CRM,
        notify: Notifier,
        after_claim: Callable[[Sequence[Notice]], None] = lambda notices: None,
    ) -> None:
        self._outbox = outbox
        self._crm = crm
        self._notify = notify
        self._after_claim = after_claim
        self._told = threading.local()
        self._next_sweep = 0.0
        self._sweep_lock = threading.Lock()

    def tell_delayed(self) -> None:
        """Tell once the people whose update is still not in the CRM after `QUEUED_AFTER` (a crashed
        worker's, or one behind a slow update of the same deal) that it is queued."""
        with self._sweep_lock:  # the worker's threads share one look every `SWEEP_EVERY` seconds
            if time.monotonic() < self._next_sweep:
                return
            self._next_sweep = time.monotonic() + SWEEP_EVERY
        for entry in self._outbox.take_delayed():
            self._tell(entry, "queued", reason="still waiting")

    def __call__(self, entries: list[OutboxEntry]) -> None:
        self._told.notices = []
        try:
            writes = self._left_to_write(entries)
            held = self._outbox.renew([w.entry for w in writes])
            for w in writes:
                if w.entry.id not in held:  # taken over (a lapsed lease): the new holder writes it
                    log.warning("CRM update %s: claim lost before writing it", w.entry.id)
            writes = self.write([w for w in writes if w.entry.id in held])
            self._record(writes)
        finally:
            told, self._told.notices = self._told.notices, None
            if told:
                try:
                    self._after_claim(told)
                except Exception:  # what people see is refreshed on their next look anyway
                    log.exception("could not refresh what %d people see", len({n.requested_by for n in told}))

    def write(self, writes: list[Write]) -> list[Write]:
        """Write the claim's changes (one batch update) and then its notes (one batch create), and
        work out each deal as it now is; records nothing (`_record` does)."""
        updates: dict[str, DealUpdate] = {}
        for w in writes:
            if not w.changes:
                continue
            try:
                updates[w.entry.deal_id] = deal_update(w.changes)
            except Exception as exc:  # noqa: BLE001 - one entry's stored value, not the claim's: its own failure
                w.failed = exc
        if updates:
            self._attempt(
                [w for w in writes if w.changes and w.entry.deal_id in updates],
                lambda: self._crm.update_deals(updates),
                lambda w, done: setattr(w, "written", done.get(w.entry.deal_id)),
                key=lambda w: w.entry.deal_id,
            )
        noted = [w for w in writes if w.entry.note and w.ready]
        if noted:
            drafts = [
                NoteDraft(w.entry.deal_id, w.entry.note or "", w.entry.created_at, w.entry.idempotency_key)
                for w in noted
            ]
            # Only a second attempt may find its note made already (a crash after the write).
            maybe = {w.entry.idempotency_key for w in noted if w.entry.attempts > 1}
            self._attempt(
                noted,
                lambda: self._crm.add_notes(drafts, look_first=maybe),
                lambda w, done: setattr(w, "note", done.get(w.entry.idempotency_key)),
                key=lambda w: w.entry.idempotency_key,
            )
        return writes

    def _attempt(
        self,
        writes: list[Write],
        call: Callable[[], BatchResult[Any]],
        keep: Callable[[Write, dict[str, Any]], None],
        *,
        key: Callable[[Write], str],
    ) -> None:
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001 - the whole batch's, recorded per entry by `_failed`
            for w in writes:
                w.failed = exc
            return
        for w in writes:
            if key(w) in result.refused:
                w.refused = result.refused[key(w)]
            else:
                keep(w, result.done)

    def _left_to_write(self, entries: list[OutboxEntry]) -> list[Write]:
        """Each entry less the fields a later applied update of its deal set; entries with nothing
        left are recorded as superseded here."""
        newer_by_entry = self._outbox.applied_after(entries)
        writes: list[Write] = []
        for entry in entries:
            newer = newer_by_entry[entry.id]
            if LOST_REASON in entry.changes and "stage" in newer:
                newer.add(LOST_REASON)  # a lost reason goes with the stage it was given for
            changes = {name: value for name, value in entry.changes.items() if name not in newer}
            superseded = sorted(set(entry.changes) - set(changes))
            if superseded:
                log.info("CRM update %s: %s superseded by a later update", entry.id, ", ".join(superseded))
            if superseded and not changes and not entry.note:
                reason = "a later update of this deal was saved first (" + ", ".join(superseded) + ")"
                if self._outbox.supersede(entry, reason):
                    self._tell(entry, "superseded", reason=", ".join(superseded))
                continue
            writes.append(Write(entry, changes, superseded))
        return writes

    def _record(self, writes: list[Write]) -> None:
        deals = self._deals_after(writes)
        for w in writes:
            entry = w.entry
            if w.refused is not None:
                gone = isinstance(w.refused, CrmNotFound)
                if self._outbox.reject(entry, str(w.refused), gone=gone):  # the audit keeps the CRM's words
                    self._tell(entry, "rejected", reason=_told_why(w.refused))
            elif w.failed is not None:
                self._failed(entry, w.failed)
            elif entry.deal_id not in deals:
                self._failed(entry, CrmNotFound("the deal could not be read back after the write"))
        done = [w for w in writes if w.ready and w.entry.deal_id in deals]
        by_id = {w.entry.id: w for w in done}
        for entry in self._outbox.complete([(w.entry, deals[w.entry.deal_id], w.superseded) for w in done]):
            self._tell(entry, "done", after=deals[entry.deal_id], changes=by_id[entry.id].changes)

    def _deals_after(self, writes: list[Write]) -> dict[str, Deal]:
        """Each written deal as it now is: the mirror with the CRM's answer laid over it; a deal the
        mirror lacks is read (one batch read for all of them)."""
        ready = [w for w in writes if w.ready]
        if not ready:
            return {}
        written = {w.entry.deal_id: w.written.fields for w in ready if w.written is not None}
        noted = {w.entry.deal_id: w.entry.created_at for w in ready if w.note is not None}
        deals = self._outbox.as_written(written, noted)
        unknown = [w.entry.deal_id for w in ready if w.entry.deal_id not in deals]
        if unknown:
            try:
                deals.update((d.id, d) for d in self._crm.get_deals(unknown))
            except Exception as exc:  # noqa: BLE001 - written, not read: the next attempt writes it again
                for w in ready:
                    if w.entry.deal_id in unknown:
                        w.failed = exc
        return deals

    def _failed(self, entry: OutboxEntry, exc: Exception) -> None:
        if isinstance(exc, CrmError):  # outage, rate limit or a token an admin must fix: keep it queued
            kind = "auth" if isinstance(exc, CrmAuthError) else "unavailable"
            log.warning("CRM update %s queued again (%s): %s", entry.id, kind, exc)
            if self._outbox.retry_later(entry, str(exc)):
                self._tell(entry, "queued", reason=str(exc))
            return
        # A bug or an answer nobody expected: retry a few times, then say so.
        log.error("CRM update %s failed unexpectedly (attempt %d)", entry.id, entry.attempts, exc_info=exc)
        if entry.attempts >= MAX_UNEXPECTED_FAILURES:
            reason = UNEXPECTED
            if self._outbox.reject(entry, reason):
                self._tell(entry, "rejected", reason=reason)
        else:
            self._outbox.retry_later(entry, "unexpected error")

    def _tell(
        self,
        entry: OutboxEntry,
        kind: NoticeKind,
        *,
        after: Deal | None = None,
        reason: str | None = None,
        changes: Mapping[str, str] | None = None,
    ) -> None:
        notice = Notice(
            kind=kind,
            entry_id=entry.id,
            deal_id=entry.deal_id,
            deal_name=entry.deal_name,
            requested_by=entry.requested_by,
            response_url=entry.response_url,
            changes=entry.changes if changes is None else changes,
            before=entry.before,
            note=entry.note,
            after=after,
            reason=reason,
            source=entry.source,
        )
        try:
            self._notify(notice)
        except Exception:  # a failed confirmation must not undo or repeat the CRM write
            log.exception("could not tell %s about outbox entry %s", entry.requested_by, entry.id)
            return
        told = getattr(self._told, "notices", None)
        if told is not None:  # within a claim (not the housekeeping sweep)
            told.append(notice)


def _told_why(refused: Exception) -> str:
    """What the person reads after "the CRM refused your update of X:": a message of ours to
    translate (the deal is gone), or the CRM's own words about the value, quoted as they are."""
    if isinstance(refused, CrmNotFound):
        return DEAL_GONE
    if isinstance(refused, CrmRejected):
        return refused.detail
    return str(refused)


def _deal_summary(deal: Deal) -> dict[str, Any]:
    return {f.name: f.store(getattr(deal, f.name)) for f in FIELDS}
