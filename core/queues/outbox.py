"""The outbox: accepted changes are stored before Slack gets its ack, then applied to the CRM by workers.

Every `serve` process runs a worker: the leased queue's loop (`core.queues.leased`), so replicas never
apply one entry at the same time, and one deal's entries are applied in order. A worker that
dies mid-way leaves a lease that runs out, and the entry is applied again: a PATCH with the same
values changes nothing, and a note carries the entry's idempotency key, so nothing is applied twice.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, exists, insert, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from core.deals.fields import FIELD_BY_NAME, FIELDS
from core.mirror.sync import drop_deals, store_deal
from core.models import AuditEntry, OutboxEntry
from core.queues.leased import LeasedQueue, QueueSpec, QueueWorker
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


def _in_order(now: datetime) -> Sequence[ColumnElement[bool]]:
    # One deal's changes reach the CRM in the order they were made: the last one wins.
    older = aliased(OutboxEntry)
    return (
        ~exists().where(
            older.deal_id == OutboxEntry.deal_id, older.status == "pending", older.id < OutboxEntry.id
        ),
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

    def complete(self, entry: OutboxEntry, deal: Deal) -> bool:
        """Record success; False when this worker no longer holds the entry (then it says nothing)."""
        now = self._clock()
        return self.finish(
            entry,
            {"completed_at": now, "result": _deal_summary(deal), "last_error": None},
            also=lambda session: store_deal(session, deal, now),
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
) -> QueueWorker[OutboxEntry]:
    """Threads that apply due entries to the CRM and tell people how it went (every `serve` runs one)."""
    apply = ApplyToCrm(outbox, crm, notify)
    return QueueWorker(
        outbox,
        lambda entries: apply(entries[0]),
        name="outbox",
        threads=threads,
        poll_interval=poll_interval,
        between_items=between_items,
        wakeup=wakeup,
    )


class ApplyToCrm:
    """Working one outbox entry: write it to the CRM, record the outcome, tell the person."""

    def __init__(self, outbox: Outbox, crm: CRM, notify: Notifier) -> None:
        self._outbox = outbox
        self._crm = crm
        self._notify = notify

    def __call__(self, entry: OutboxEntry) -> None:
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
