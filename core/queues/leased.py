"""One leased queue: rows of a table claimed with a lease, retried with backoff, dead-lettered with
a reason, and worked by one worker loop.

The outbox, the command inbox, DM delivery and deal alert posts are its uses (`outbox`, `commands`,
`dms`, `alert_posts`): each says which table and statuses, what "due" means, and how to work a
row; this module does the rest.

A claim sets the lease (`locked_until`), the holder (`locked_by`) and counts the attempt. The holder
and the attempt number together name one claim, so a late worker whose lease ran out (and whose
row was claimed again) cannot record an outcome: only the current claim may.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

__all__ = ["LEASE", "LeasedQueue", "QueueSpec", "QueueWorker", "attempts_of"]

# Every queue's lease: short, since a live worker renews its claims (`QueueWorker`'s heartbeat),
# so a dead worker's claims are taken over within about this long.
LEASE = timedelta(seconds=30)
# How long the worker loop waits after a failure that is not one row's (the database is down),
# doubling up to the cap: one log line per step instead of one per poll.
LOOP_FIRST_BACKOFF = 1.0
LOOP_MAX_BACKOFF = 60.0


# A mapped class with the columns every queue table has: id, status, attempts, locked_until,
# locked_by and last_error (read through `_claim`, as SQLAlchemy's mapped types fit no Protocol).
Row = TypeVar("Row")


def attempts_of(row: object) -> int:
    """How many times the row has been claimed, this claim included."""
    attempts: int = getattr(row, "attempts")  # noqa: B009 - any queue row has it
    return attempts


def _claim(row: object) -> tuple[int, str | None, int]:
    """The row's id and the claim it was read under (holder, attempt number)."""
    return getattr(row, "id"), getattr(row, "locked_by"), attempts_of(row)  # noqa: B009


def _nothing_more(now: datetime) -> Sequence[ColumnElement[bool]]:
    return ()


@dataclass(frozen=True)
class QueueSpec(Generic[Row]):
    """What one use of the queue is: its table, its statuses and what makes a row due."""

    model: type[Row]
    lease: timedelta  # longer than working one claim can take, so a live worker keeps its rows
    waiting: str = "pending"
    done: str = "done"
    dead: str = "failed"
    due_at: str | None = None  # a column holding the earliest time of the next attempt, if any
    group_by: str | None = None  # a claim takes rows sharing this column's value (one person's DMs)
    first_backoff: timedelta = timedelta(seconds=5)
    max_backoff: timedelta = timedelta(minutes=10)
    max_attempts: int = 5  # failures the worker loop tolerates before a row is dead-lettered
    # Claims after which a failure's `retry` dead-letters the row instead; None: retried until it goes
    # (the outbox: an accepted update is retried until the CRM takes or refuses it).
    give_up_after: int | None = None
    due: Callable[[datetime], Sequence[ColumnElement[bool]]] = field(default=_nothing_more)


class LeasedQueue(Generic[Row]):
    """Claims and fenced outcomes. `FOR UPDATE SKIP LOCKED` keeps PostgreSQL replicas off each other's
    rows; the UPDATE re-checks the due conditions, since SQLite ignores FOR UPDATE and two claimers
    may select the same rows there (SQLite serialises the UPDATEs, so only one of them wins)."""

    def __init__(self, spec: QueueSpec[Row], sessions: sessionmaker[Session], clock: Callable[[], datetime]):
        self.spec = spec
        self._sessions = sessions
        self._clock = clock

    def column(self, name: str) -> Any:
        return getattr(self.spec.model, name)

    def due(self, now: datetime) -> list[ColumnElement[bool]]:
        locked_until = self.column("locked_until")
        conditions = [
            self.column("status") == self.spec.waiting,
            locked_until.is_(None) | (locked_until < now),
        ]
        if self.spec.due_at is not None:
            conditions.append(self.column(self.spec.due_at) <= now)
        return [*conditions, *self.spec.due(now)]

    def claim(self, holder: str, *, limit: int = 1, where: Sequence[ColumnElement[bool]] = ()) -> list[Row]:
        """Lease up to `limit` due rows to `holder`, oldest first (all of one group's, if grouped)."""
        now = self._clock()
        ident = self.column("id")
        due = [*self.due(now), *where]
        with self._sessions.begin() as session:
            self._before_claim(session)
            if self.spec.group_by is not None:
                group = self.column(self.spec.group_by)
                first = session.execute(select(group).where(*due).order_by(ident).limit(1)).first()
                if first is None:
                    return []
                due.append(group == first[0])
            candidates = session.scalars(
                select(ident).where(*due).order_by(ident).limit(limit).with_for_update(skip_locked=True)
            ).all()
            if not candidates:
                return []
            claimed = session.scalars(
                update(self.spec.model)
                .where(ident.in_(candidates), *due)
                .values(
                    locked_until=now + self.spec.lease,
                    locked_by=holder,
                    attempts=self.column("attempts") + 1,
                )
                .returning(ident)
            ).all()
            if not claimed:
                return []
            return list(session.scalars(select(self.spec.model).where(ident.in_(claimed)).order_by(ident)))

    def _before_claim(self, session: Session) -> None:
        """A hook at the start of a claim's transaction (the outbox serialises its claims)."""

    def renew(self, rows: Sequence[Row]) -> set[int]:
        """Extend the lease of rows this claim still holds; returns the ids still held (a row taken
        over after a lapsed lease is not renewed, and its late worker must not act on it)."""
        if not rows:
            return set()
        now = self._clock()
        held: set[int] = set()
        with self._sessions.begin() as session:
            for row in rows:
                result: Any = session.execute(
                    update(self.spec.model)
                    .where(
                        *self._still_held(row),
                        # Not a row retried meanwhile with a later time (queues without a due column)
                        self.column("locked_until") <= now + self.spec.lease,
                    )
                    .values(locked_until=now + self.spec.lease)
                )
                if result.rowcount:
                    held.add(_claim(row)[0])
        return held

    def backoff(self, attempts: int) -> timedelta:
        """Doubling from the first delay, capped: 5s, 10s, 20s, ... up to the maximum."""
        delay: timedelta = self.spec.first_backoff * 2 ** max(attempts - 1, 0)
        return min(delay, self.spec.max_backoff)

    def finish(
        self, row: Row, values: dict[str, Any] | None = None, *, also: Callable[[Session], None] | None = None
    ) -> bool:
        """Mark the row done; `also` runs in the same transaction. False when the claim was lost."""
        return self._record(row, {"status": self.spec.done, **(values or {})}, also)

    def retry(
        self,
        row: Row,
        reason: str | None,
        *,
        at: datetime | None = None,
        values: dict[str, Any] | None = None,
    ) -> bool:
        """Try again at `at`, or after the backoff for the attempts so far. False when the claim was lost.

        A failure (`reason`) on the spec's `give_up_after`th claim dead-letters the row instead."""
        limit = self.spec.give_up_after
        if reason is not None and limit is not None and attempts_of(row) >= limit:
            log.error(
                "%s row %s given up after %d attempts: %s",
                self.spec.model.__name__,
                _claim(row)[0],
                limit,
                reason,
            )
            return self.dead_letter(row, f"gave up after {limit} attempts: {reason}", values)
        when = at or self._clock() + self.backoff(attempts_of(row))
        changes: dict[str, Any] = dict(values or {})
        if reason is not None:
            changes["last_error"] = reason[:2000]
        if self.spec.due_at is not None:
            changes[self.spec.due_at] = when
            return self._record(row, changes, None)
        # No due column: the lease itself holds the row back until then.
        return self._record(row, changes, None, locked_until=when)

    def dead_letter(
        self,
        row: Row,
        reason: str,
        values: dict[str, Any] | None = None,
        *,
        also: Callable[[Session], None] | None = None,
    ) -> bool:
        """Give up on the row for good, saying why. False when the claim was lost."""
        return self._record(
            row, {"status": self.spec.dead, "last_error": reason[:2000], **(values or {})}, also
        )

    def release(self, rows: Sequence[Row]) -> int:
        """Hand claimed rows back unworked (their worker is stopping): due at once for any worker, the
        attempt not counted. Fenced like every outcome; returns how many were still ours."""
        released = 0
        for row in rows:
            attempt = _claim(row)[2]
            released += self._record(row, {"locked_by": None, "attempts": max(attempt - 1, 0)}, None)
        return released

    def finish_many(
        self,
        rows: Sequence[tuple[Row, dict[str, Any]]],
        *,
        also: Callable[[Session, list[Row]], None] | None = None,
    ) -> list[Row]:
        """`finish` for many rows in one transaction, each fenced alone; `also` runs in it with the
        rows still held. Returns those (the others' claims were lost: their workers say nothing)."""
        if not rows:
            return []
        with self._sessions.begin() as session:
            held = [
                row
                for row, values in rows
                if self._fenced(session, row, {"status": self.spec.done, **values}, None)
            ]
            if held and also is not None:
                also(session, held)
        return held

    def _record(
        self,
        row: Row,
        values: dict[str, Any],
        also: Callable[[Session], None] | None,
        *,
        locked_until: datetime | None = None,
    ) -> bool:
        with self._sessions.begin() as session:
            if not self._fenced(session, row, values, locked_until):
                return False
            if also is not None:
                also(session)
        return True

    def _still_held(self, row: Row) -> tuple[ColumnElement[bool], ...]:
        """The fence: the row is still waiting, held by this claim's holder at this attempt."""
        ident, holder, attempt = _claim(row)
        return (
            self.column("id") == ident,
            self.column("status") == self.spec.waiting,
            self.column("locked_by") == holder,
            self.column("attempts") == attempt,
        )

    def _fenced(
        self, session: Session, row: Row, values: dict[str, Any], locked_until: datetime | None
    ) -> bool:
        """Write the row's outcome if this claim still holds it (holder and attempt unchanged)."""
        result: Any = session.execute(
            update(self.spec.model).where(*self._still_held(row)).values(locked_until=locked_until, **values)
        )
        return bool(result.rowcount)


class QueueWorker(Generic[Row]):
    """The worker loop: `threads` daemon threads claim due rows and hand them to `process`, polling
    every `poll_interval` seconds or at once when `wakeup` is set (after an enqueue in this process).

    A claim takes up to `batch` rows, each worked alone, or all at once when `together` (the outbox
    writes a claim in one batch). `process` records each row's outcome itself; if it raises, only
    that piece of work is retried with backoff, and dead-lettered after `max_attempts`.
    `between_items` runs before each piece of work (e.g. step aside while Slack requests are being
    answered); `housekeeping` once per poll.

    While rows are claimed (worked, or waiting behind others of the same batch) a heartbeat thread
    renews their lease every `heartbeat` seconds, so the lease can be short: a worker that dies
    stops renewing and its rows are claimed again once the lease runs out.
    """

    def __init__(
        self,
        queue: LeasedQueue[Row],
        process: Callable[[list[Row]], None],
        *,
        name: str,
        threads: int = 1,
        poll_interval: float = 0.5,
        batch: int = 1,
        together: bool = False,
        between_items: Callable[[], None] = lambda: None,
        wakeup: threading.Event | None = None,
        heartbeat: float | None = None,
        housekeeping: Callable[[], None] = lambda: None,
    ) -> None:
        self.queue = queue
        self.holder = f"{name}-{secrets.token_hex(3)}"
        self._process = process
        self._name = name
        self._wanted = threads
        self._poll = poll_interval
        self._batch = batch
        self._together = together
        self._between_items = between_items
        self._housekeeping = housekeeping
        self._wake = wakeup or threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # A third of the lease: two renewals may fail (a slow database) before the lease runs out.
        self._heartbeat = heartbeat or queue.spec.lease.total_seconds() / 3
        self._held: dict[int, Row] = {}
        self._held_lock = threading.Lock()
        self._beating: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def start(self) -> QueueWorker[Row]:
        for n in range(self._wanted):
            thread = threading.Thread(target=self._loop, name=f"{self._name}-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def run_once(self, *, where: Sequence[ColumnElement[bool]] = (), limit: int | None = None) -> int:
        """Work whatever is due now (at most `limit` claims); returns how many pieces of work were done.

        A grouped queue works each group once per run: what is left of it waits for the next run.
        """
        handled = 0
        seen: list[Any] = []
        group = None if self.queue.spec.group_by is None else self.queue.column(self.queue.spec.group_by)
        while not self.stopping and (limit is None or handled < limit):
            fresh = [] if group is None or not seen else [group.notin_(seen)]
            rows = self.queue.claim(self.holder, limit=self._batch, where=[*where, *fresh])
            if not rows:
                return handled
            if group is not None:
                seen.append(getattr(rows[0], self.queue.spec.group_by or ""))
            units = [rows] if group is not None or self._together else [[row] for row in rows]
            self._renew_while_held(rows)
            try:
                for index, unit in enumerate(units):
                    if self.stopping:  # shutting down: what this claim has not started goes back at once
                        self.queue.release([row for rest in units[index:] for row in rest])
                        return handled
                    self._between_items()
                    self.process(unit)
                    self._stop_renewing(unit)
                    handled += 1
            finally:
                self._stop_renewing(rows)
        return handled

    def process(self, rows: list[Row]) -> None:
        """Work one unit; a failure is this unit's alone (the rest of its batch is worked as usual)."""
        try:
            self._process(rows)
        except Exception as exc:  # a bug or an answer nobody expected: back off, then give up
            log.exception("%s: working %s failed", self._name, [_claim(row)[0] for row in rows])
            reason = f"unexpected error ({type(exc).__name__})"
            for row in rows:
                if attempts_of(row) >= self.queue.spec.max_attempts:
                    self.queue.dead_letter(row, reason)
                else:
                    self.queue.retry(row, reason)

    def renew_now(self, rows: Sequence[Row]) -> bool:
        """Renew before a step that must not run on a lost claim (a CRM write): False if lost."""
        return len(self.queue.renew(rows)) == len(rows)

    def _renew_while_held(self, rows: Sequence[Row]) -> None:
        with self._held_lock:
            for row in rows:
                self._held[_claim(row)[0]] = row
            if self._beating is None or not self._beating.is_alive():
                self._beating = threading.Thread(
                    target=self._beat, name=f"{self._name}-heartbeat", daemon=True
                )
                self._beating.start()

    def _stop_renewing(self, rows: Sequence[Row]) -> None:
        with self._held_lock:
            for row in rows:
                self._held.pop(_claim(row)[0], None)

    def _beat(self) -> None:
        """Renew the held rows' leases until none is held (the next claim starts it again)."""
        while not self._stop.wait(self._heartbeat):
            with self._held_lock:
                rows = list(self._held.values())
                if not rows:
                    self._beating = None
                    return
            try:
                kept = self.queue.renew(rows)
            except Exception as exc:  # noqa: BLE001 - the database is away: the lease is the fallback
                log.warning("%s: could not renew leases (%s)", self._name, type(exc).__name__)
                continue
            if len(kept) < len(rows):
                log.warning(
                    "%s: lost the claim on %s", self._name, sorted({_claim(r)[0] for r in rows} - kept)
                )

    def _loop(self) -> None:
        delay = LOOP_FIRST_BACKOFF
        while not self._stop.is_set():
            try:
                self._housekeeping()
                self.run_once()
            except Exception as exc:  # the database is down, most likely: the work stays leased
                if delay == LOOP_FIRST_BACKOFF:
                    log.exception("%s failed; retrying in %.0fs", self._name, delay)
                else:
                    log.warning(
                        "%s still failing (%s); retrying in %.0fs", self._name, type(exc).__name__, delay
                    )
                self._stop.wait(delay)
                delay = min(delay * 2, LOOP_MAX_BACKOFF)
                continue
            if delay != LOOP_FIRST_BACKOFF:
                log.info("%s working again", self._name)
                delay = LOOP_FIRST_BACKOFF
            self._wake.wait(self._poll)
            self._wake.clear()
