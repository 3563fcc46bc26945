"""Re-read deals a webhook named, in the background, so the webhook is answered at once.

Ids that arrive together (HubSpot sends bursts of requests, each with up to 100 events, duplicates
and out of order) are gathered for a short moment and read once, in one batch read per 100 deals.

When the CRM cannot be read (outage, rate limit past the adapter's own retries, revoked token) the
ids are dropped with a warning rather than retried here: the periodic incremental sync reads every
deal modified since its last run, so it catches them up, and a backlog of retries could only
compete with it for the same API budget.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session, sessionmaker

from core.clock import Clock
from core.mirror.sync import RefreshResult, refresh_deals
from integrations.base import CRM, CrmAuthError, CrmError

log = logging.getLogger(__name__)

SETTLE_SECONDS = 0.5  # how long the ids arriving together get to join one read


class DealRefresher:
    """One background thread; `submit` ids from any thread; `stop` leaves pending ids to the sync."""

    def __init__(
        self,
        crm: CRM,
        sessions: sessionmaker[Session],
        *,
        clock: Clock,
        on_refreshed: Callable[[], object] | None = None,
        settle: float = SETTLE_SECONDS,
    ) -> None:
        self._crm = crm
        self._sessions = sessions
        self._clock = clock
        # Called after each refresh that read the CRM (alerts evaluate the changes); settable later.
        self.on_refreshed = on_refreshed
        self._settle = settle
        self._pending: dict[str, None] = {}  # insertion-ordered set
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, deal_ids: Iterable[str]) -> None:
        with self._lock:
            self._pending.update(dict.fromkeys(deal_ids))
            if self._pending:
                self._wakeup.set()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def start(self) -> DealRefresher:
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._loop, name="deal-refresher", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None
        left = self.pending
        if left:
            log.info("stopped with %d webhook deal refreshes pending; the next sync reads them", left)

    def run_once(self) -> RefreshResult | None:
        """Refresh what is pending now; None when nothing was, or when the CRM could not be read."""
        with self._lock:
            deal_ids = list(self._pending)
            self._pending.clear()
            self._wakeup.clear()
        if not deal_ids:
            return None
        try:
            result = refresh_deals(self._crm, self._sessions, deal_ids, now=self._clock())
        except CrmAuthError as exc:
            log.error("could not refresh %d deals named by webhooks: %s", len(deal_ids), exc)
            return None
        except CrmError as exc:
            log.warning(
                "could not refresh %d deals named by webhooks (%s); the next sync will read them",
                len(deal_ids),
                exc,
            )
            return None
        except Exception:
            log.exception(
                "refreshing %d deals named by webhooks failed; the next sync will read them", len(deal_ids)
            )
            return None
        log.info(
            "refreshed deals named by webhooks",
            extra={
                "requested": len(deal_ids),
                "read": result.deals_read,
                "changed": len(result.changed),
                "removed": len(result.removed),
                "skipped": result.skipped,
            },
        )
        if not result.skipped and self.on_refreshed is not None:
            try:
                self.on_refreshed()
            except Exception:
                log.exception("the callback after a webhook refresh failed")
        return result

    def _loop(self) -> None:
        while not self._stopping.is_set():
            if not self._wakeup.wait(timeout=1.0):
                continue
            # Let the rest of a burst arrive, so duplicates and neighbours are read in one request.
            if self._stopping.wait(self._settle):
                return
            self.run_once()
