"""APScheduler 3 inside `serve`: one cron job per ritual with a stable id, plus the DM dispatcher.

Each process has its own scheduler (3.x cannot share a job store between processes); a firing only
runs where its claim in the database succeeds, so replicas never run it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

from integrations.base import CrmPaused
from rituals.config import RitualsConfig
from rituals.engine import RitualEngine, Sender

log = logging.getLogger(__name__)

DISPATCH_SECONDS = 30
# /deal, App Home and deal alerts read the local mirror: an incremental sync costs one HubSpot
# request when nothing changed, so every minute keeps alerts within a minute of the change.
MIRROR_SYNC_MINUTES = 1
FULL_SYNC_HOUR_UTC = 3


def job_id(ritual_id: str) -> str:
    return f"ritual:{ritual_id}"


class RitualScheduler:
    def __init__(
        self,
        engine: RitualEngine,
        send: Sender,
        config: Callable[[], RitualsConfig],
        *,
        after_sync: Callable[[], object] = lambda: None,
    ) -> None:
        self._after_sync = after_sync  # the deal alerts look at what the sync found
        self._engine = engine
        self._send = send
        self._config = config
        self._scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1}
        )

    def start(self) -> None:
        self.schedule(self._config())
        self._scheduler.add_job(
            self.deliver, "interval", seconds=DISPATCH_SECONDS, id="dm-dispatch", replace_existing=True
        )
        self._scheduler.add_job(
            self.refresh_mirror,
            "interval",
            minutes=MIRROR_SYNC_MINUTES,
            id="mirror-sync",
            replace_existing=True,
        )
        self._scheduler.add_job(
            self.refresh_mirror,
            "cron",
            hour=FULL_SYNC_HOUR_UTC,
            kwargs={"full": True},
            id="mirror-full-sync",
            replace_existing=True,
        )
        self._scheduler.start()
        # Catch up after downtime in the background, not while serve is starting.
        self._scheduler.add_job(self.catch_up, id="catch-up", replace_existing=True)

    def schedule(self, config: RitualsConfig) -> None:
        """(Re)register one job per enabled ritual; removed rituals lose their job."""
        wanted = {job_id(r.id): r for r in config.scheduled if r.enabled}
        for job in self._scheduler.get_jobs():
            if job.id.startswith("ritual:") and job.id not in wanted:
                job.remove()
        for jid, ritual in wanted.items():
            self._scheduler.add_job(
                self.fire,
                ritual.trigger(),
                args=[ritual.id],
                id=jid,
                name=f"{ritual.kind} {ritual.id}",
                replace_existing=True,
                misfire_grace_time=ritual.grace_minutes * 60 or 1,
            )

    def fire(self, ritual_id: str) -> None:
        try:
            report = self._engine.run_scheduled(ritual_id)
            log.info("%s", report.summary(), extra={"ritual": ritual_id})
        except Exception:  # one ritual's failure must not stop the scheduler
            log.exception("ritual %s failed", ritual_id)
        self.deliver()

    def catch_up(self) -> None:
        try:
            for report in self._engine.catch_up():
                log.info("catch-up: %s", report.summary())
        except Exception:
            log.exception("catching up missed firings failed")
        self.deliver()

    def refresh_mirror(self, full: bool = False) -> None:
        try:
            result = self._engine.refresh_mirror(full=full)
            log.info(
                "mirror %s sync: %d read, %d new or changed, %d removed",
                "full" if full else "incremental",
                result.deals_read,
                result.deals_changed,
                result.deals_removed,
            )
        except CrmPaused as exc:  # expected while the day's allowance is low: one line, no traceback
            log.warning("mirror sync paused: %s", exc)
            return
        except Exception:  # an outage now is retried at the next interval
            log.exception("refreshing the CRM mirror failed")
            return
        try:
            self._after_sync()
        except Exception:  # the changes stay in the history: the next look finds them again
            log.exception("checking deal alerts failed; will retry after the next sync")

    def deliver(self) -> None:
        try:
            self._engine.deliver_due(self._send)
        except Exception:
            log.exception("delivering queued DMs failed; will retry")

    def shutdown(self) -> None:
        """Stop firing; a firing or DM dispatch already running is finished, never cut half-sent
        (its claim would otherwise hold the firing as running and its other DMs unsent)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
