"""The outbox: accepted changes are stored before Slack gets its ack, then applied to the CRM by workers.

Every `serve` process runs a worker. Entries are claimed with a lease (`FOR UPDATE SKIP LOCKED` on
PostgreSQL; SQLite serialises writers), so replicas never apply one at the same time. A worker that
dies mid-way leaves a lease that runs out, and the entry is applied again: a PATCH with the same
values changes nothing, and a note carries the entry's idempotency key, so nothing is applied twice.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, exists, insert, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from core.deals.fields import FIELD_BY_NAME, FIELDS
from core.mirror.sync import drop_deals, store_deal
from core.models import AuditEntry, OutboxEntry
from core.queues.lease import claim_due
from core.queues.polling import PollingThreads
from core.sql import dialect_insert
from integrations.base import (
    CRM,
    CrmAuthError,
    CrmError,
    CrmNotFound,
    CrmRejected,
    Deal,
    DealUpdate,
)

log = logging.getLogger(__name__)

# Longer than the slowest CRM call with all its retries, so a live worker never loses its claim.
LEASE = timedelta(minutes=10)
MAX_UNEXPECTED_FAILURES = 5
MAX_BACKOFF = timedelta(minutes=10)
FIRST_BACKOFF = timedelta(seconds=5)

# Field names in `changes` are the editable fields' (core.deals.fields) and this one; anything else
# is a CRM property written as it is.
LOST_REASON = "closed_lost_reason"


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


NoticeKind = Literal["done", "queued", "rejected"]


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


def apply_entry(crm: CRM, entry: OutboxEntry) -> Deal:
    """Write one entry to the CRM. Safe to repeat: same values again, and the note is keyed."""
    deal = crm.update_deal(entry.deal_id, deal_update(entry.changes)) if entry.changes else None
    if entry.note:
        crm.add_note(
            entry.deal_id, entry.note, timestamp=entry.created_at, idempotency_key=entry.idempotency_key
        )
    return crm.get_deal(entry.deal_id) if entry.note or deal is None else deal


class Outbox:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def claim(self, worker_id: str, limit: int = 1) -> list[OutboxEntry]:
        now = self._clock()
        older = aliased(OutboxEntry)
        due = (
            OutboxEntry.status == "pending",
            OutboxEntry.next_attempt_at <= now,
            or_(OutboxEntry.locked_until.is_(None), OutboxEntry.locked_until < now),
            # One deal's changes reach the CRM in the order they were made: the last one wins.
            ~exists().where(
                older.deal_id == OutboxEntry.deal_id, older.status == "pending", older.id < OutboxEntry.id
            ),
        )
        return claim_due(
            self._sessions,
            OutboxEntry,
            due=due,
            values={
                "locked_until": now + LEASE,
                "locked_by": worker_id,
                "attempts": OutboxEntry.attempts + 1,
            },
            limit=limit,
        )

    def complete(self, entry: OutboxEntry, deal: Deal) -> bool:
        """Record success; False when this worker no longer holds the entry (then it says nothing)."""
        now = self._clock()
        with self._sessions.begin() as session:
            updated = session.execute(
                update(OutboxEntry)
                .where(*_still_mine(entry))
                .values(
                    status="done",
                    completed_at=now,
                    locked_until=None,
                    result=_deal_summary(deal),
                    last_error=None,
                )
            )
            if not _rowcount(updated):
                return False
            store_deal(session, deal, now)
        return True

    def reject(self, entry: OutboxEntry, reason: str, *, gone: bool = False) -> bool:
        """Record a permanent refusal; `gone` also drops the deal from the mirror (deleted in the CRM)."""
        with self._sessions.begin() as session:
            updated = session.execute(
                update(OutboxEntry)
                .where(*_still_mine(entry))
                .values(status="rejected", completed_at=self._clock(), locked_until=None, last_error=reason)
            )
            if gone:
                drop_deals(session, [entry.deal_id], self._clock())
            return bool(_rowcount(updated))

    def retry_later(self, entry: OutboxEntry, reason: str) -> bool:
        """Schedule another attempt; True the first time, so the person hears it is queued once."""
        delay = min(FIRST_BACKOFF * 2 ** max(entry.attempts - 1, 0), MAX_BACKOFF)
        with self._sessions.begin() as session:
            first_time = not session.scalar(select(OutboxEntry.told_queued).where(OutboxEntry.id == entry.id))
            updated = session.execute(
                update(OutboxEntry)
                .where(*_still_mine(entry))
                .values(
                    next_attempt_at=self._clock() + delay,
                    locked_until=None,
                    last_error=reason,
                    told_queued=True,
                )
            )
        return first_time and bool(_rowcount(updated))


def _still_mine(entry: OutboxEntry) -> tuple[ColumnElement[bool], ...]:
    """Fences a late worker: only the holder of the current claim may record the outcome."""
    return (
        OutboxEntry.id == entry.id,
        OutboxEntry.status == "pending",
        OutboxEntry.locked_by == entry.locked_by,
    )


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class OutboxWorker:
    """Threads that apply due entries to the CRM and tell people how it went."""

    def __init__(
        self,
        outbox: Outbox,
        crm: CRM,
        notify: Notifier,
        *,
        threads: int = 4,
        poll_interval: float = 0.5,
        name: str = "worker",
        between_items: Callable[[], None] = lambda: None,
    ) -> None:
        self._between_items = between_items  # e.g. step aside while Slack requests are answered
        self._outbox = outbox
        self._crm = crm
        self._notify = notify
        self._name = f"{name}-{secrets.token_hex(3)}"
        self._threads = PollingThreads(
            self.run_once, name="outbox", threads=threads, poll_interval=poll_interval
        )

    def start(self) -> OutboxWorker:
        self._threads.start()
        return self

    def wake(self) -> None:
        """Called after an enqueue in this process, so the entry does not wait for the next poll."""
        self._threads.wake()

    def stop(self) -> None:
        self._threads.stop()

    def run_once(self) -> int:
        """Apply whatever is due now; returns how many entries were handled."""
        handled = 0
        while not self._threads.stopping:
            entries = self._outbox.claim(self._name)
            if not entries:
                return handled
            for entry in entries:
                self._between_items()
                self.process(entry)
                handled += 1
        return handled

    def process(self, entry: OutboxEntry) -> None:
        try:
            deal = apply_entry(self._crm, entry)
        except (CrmRejected, CrmNotFound) as exc:
            if self._outbox.reject(entry, str(exc), gone=isinstance(exc, CrmNotFound)):
                self._tell(entry, "rejected", reason=str(exc))
            return
        except CrmError as exc:  # outage, rate limit or a token an admin must fix: keep it queued
            kind = "auth" if isinstance(exc, CrmAuthError) else "unavailable"
            log.warning("CRM update %s queued again (%s): %s", entry.id, kind, exc)
            if self._outbox.retry_later(entry, str(exc)):
                self._tell(entry, "queued", reason=str(exc))
            return
        except Exception:  # a bug or an answer nobody expected: retry a few times, then say so
            log.exception("CRM update %s failed unexpectedly (attempt %d)", entry.id, entry.attempts)
            if entry.attempts >= MAX_UNEXPECTED_FAILURES:
                reason = "Drumbeat hit an unexpected problem; an admin can find it in the logs"
                if self._outbox.reject(entry, reason):
                    self._tell(entry, "rejected", reason=reason)
            else:
                self._outbox.retry_later(entry, "unexpected error")
            return
        if self._outbox.complete(entry, deal):
            self._tell(entry, "done", after=deal)

    def _tell(
        self, entry: OutboxEntry, kind: NoticeKind, *, after: Deal | None = None, reason: str | None = None
    ) -> None:
        notice = Notice(
            kind=kind,
            entry_id=entry.id,
            deal_id=entry.deal_id,
            deal_name=entry.deal_name,
            requested_by=entry.requested_by,
            response_url=entry.response_url,
            changes=entry.changes,
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


def _deal_summary(deal: Deal) -> dict[str, Any]:
    return {f.name: f.store(getattr(deal, f.name)) for f in FIELDS}
