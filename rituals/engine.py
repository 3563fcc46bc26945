"""Running a ritual once: refresh the mirror, claim the firing, find what each person should hear,
queue their DM (after quiet hours, never twice in an hour), and deliver what is due.

No Slack import: rendering and sending are handed in by the wiring.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.deals.desk import DealDesk, DealView
from core.deals.streaks import current_streak
from core.deals.values import named
from core.i18n import ENGLISH, Translator, translator
from core.mirror.sync import HISTORY_RETENTION, SyncResult, sync_mirror
from core.models import NudgeRecord, PendingDM
from core.people import LookupUnavailable, PeopleDirectory
from core.queues.dms import DMQueue, dm_worker
from core.sql import dialect_insert
from integrations.base import CRM, CrmError
from rituals import firing
from rituals.adoption import AdoptionReport, record_review_weeks
from rituals.config import (
    AdoptionReportRitual,
    HygieneRitual,
    OneOnOnePrepRitual,
    PipelineDigestRitual,
    RitualsConfig,
    StaleDealsRitual,
)
from rituals.kinds import NudgeItem, OwnerFindings, hygiene_findings, stale_findings
from rituals.manager_rituals import (
    Poster,
    PostOutcome,
    ReportRenderers,
    adoption_chart,
    adoption_for,
    channel_language,
    digest_chart,
    digest_for,
    prep_for,
    stale_ritual,
    with_chart,
)
from rituals.posts import ChannelPost
from rituals.quiet import send_after

log = logging.getLogger(__name__)

CHANNEL_KINDS = ("pipeline_digest", "adoption_report")
POST_ATTEMPTS = 3
DM_SPACING = timedelta(hours=1)
DM_RETRY = timedelta(minutes=5)  # after Slack could not take a DM this time
MAX_BLOCKS = 50
RETRY_DELAYS = (2.0, 8.0)  # seconds between tries of a channel post while Slack is down


@dataclass(frozen=True, slots=True)
class NudgeMessage:
    """What a ritual wants to tell one person; the Slack side turns it into Block Kit."""

    ritual_id: str
    kind: str
    first_name: str
    items: list[NudgeItem]
    more: int
    open_count: int
    fresh_count: int
    streak: int
    snooze_days: list[int]


class Renderer(Protocol):
    """Block Kit for a nudge, in its reader's language: (fallback text, blocks)."""

    def __call__(self, message: NudgeMessage, *, t: Translator) -> tuple[str, list[dict[str, Any]]]: ...


Sender = Callable[[str, str, list[dict[str, Any]]], tuple[str, str]]  # (user, text, blocks) -> (channel, ts)


# Slack refused the bot token itself: no message can go out until an admin fixes SLACK_BOT_TOKEN.
TOKEN_REFUSED = frozenset({"invalid_auth", "token_revoked", "not_authed"})
_SLACK_ERROR = re.compile(r"\bSlack said ([a-z_]+)\b")


class DeliveryError(Exception):
    """Slack would not take a DM; `permanent` when retrying cannot help (e.g. the user is gone).
    `error` is Slack's error code when Slack answered (read from "Slack said …" when not given)."""

    def __init__(self, message: str, *, permanent: bool, error: str | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        found = _SLACK_ERROR.search(message)
        self.error = error or (found.group(1) if found else None)

    @property
    def token_refused(self) -> bool:
        return self.error in TOKEN_REFUSED


class _TokenRefused(Exception):
    """Raised out of one person's delivery so the rest of the run asks Slack nothing more."""

    def __init__(self, cause: DeliveryError) -> None:
        super().__init__(str(cause))
        self.cause = cause


@dataclass
class PlannedDM:
    slack_user: str
    person: str
    text: str
    blocks: list[dict[str, Any]]
    deal_ids: list[str]
    send_after: datetime


@dataclass
class PlannedPost:
    channel: str
    post: ChannelPost


@dataclass
class RunReport:
    ritual_id: str
    kind: str
    scheduled_for: datetime
    dry_run: bool = False
    already_ran: bool = False
    dms: list[PlannedDM] = field(default_factory=list)
    unmatched_owners: list[str] = field(default_factory=list)
    already_nudged: int = 0
    delivered: int = 0
    crm_problem: str | None = None
    firing_id: int | None = None
    slack_problems: list[str] = field(default_factory=list)
    posts: list[PlannedPost] = field(default_factory=list)
    posted: list[PostOutcome] = field(default_factory=list)
    post_problem: str | None = None
    """Nothing reached the channel (it does not exist, the bot is not in it, Slack is down)."""
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """People a ritual could not serve, said plainly."""

    @property
    def deferred(self) -> int:
        return sum(1 for dm in self.dms if dm.send_after > self.scheduled_for + timedelta(minutes=1))

    def summary(self, t: Translator = ENGLISH) -> str:
        """One line for the log and the firing's stored outcome (English), or for a person (`t`)."""
        if self.already_ran:
            when = f"{self.scheduled_for:%Y-%m-%d %H:%M} UTC"
            return t._(
                "{ritual}: the firing at {when} already ran; nothing to do.", ritual=self.ritual_id, when=when
            )
        if self.kind in CHANNEL_KINDS:
            return self._post_summary(t)
        ritual, count = self.ritual_id, len(self.dms)
        if self.kind == "one_on_one_prep":
            managers = t.n_("{n} manager", "{n} managers", len({dm.slack_user for dm in self.dms}))
            if self.dry_run:
                head = t.n_(
                    "{ritual}: would send {n} 1:1 prep DM to {managers}",
                    "{ritual}: would send {n} 1:1 prep DMs to {managers}",
                    count,
                    ritual=ritual,
                    managers=managers,
                )
            else:
                head = t.n_(
                    "{ritual}: queued {n} 1:1 prep DM to {managers}",
                    "{ritual}: queued {n} 1:1 prep DMs to {managers}",
                    count,
                    ritual=ritual,
                    managers=managers,
                )
        elif self.dry_run:
            head = t.n_(
                "{ritual}: would DM {n} person", "{ritual}: would DM {n} people", count, ritual=ritual
            )
        else:
            head = t.n_(
                "{ritual}: queued DMs for {n} person",
                "{ritual}: queued DMs for {n} people",
                count,
                ritual=ritual,
            )
        parts = [head, *self.problems]
        if self.deferred:
            parts.append(
                t.n_("{n} after quiet hours or spacing", "{n} after quiet hours or spacing", self.deferred)
            )
        if self.already_nudged:
            parts.append(
                t.n_(
                    "{n} deal already nudged today left out",
                    "{n} deals already nudged today left out",
                    self.already_nudged,
                )
            )
        if self.unmatched_owners:
            parts.append(t._("no Slack match for {owners}", owners=", ".join(sorted(self.unmatched_owners))))
        if self.slack_problems:
            parts.append(
                t._("Slack could not be asked about {people}", people=", ".join(sorted(self.slack_problems)))
            )
        if not self.dry_run:
            parts.append(t.n_("{n} DM delivered now", "{n} DMs delivered now", self.delivered))
        return t._("{parts}.", parts=t._("; ").join(parts))

    def _post_summary(self, t: Translator) -> str:
        ritual = self.ritual_id
        channels = ", ".join(p.channel for p in self.posts) or t._("its channel")
        if self.post_problem:
            parts = [
                t._(
                    "{ritual}: nothing was posted to {channels}: {problem}",
                    ritual=ritual,
                    channels=channels,
                    problem=self.post_problem,
                )
            ]
        elif self.dry_run:
            parts = [t._("{ritual}: would post to {channels}", ritual=ritual, channels=channels)]
        else:
            replies = sum(len(p.post.thread) for p in self.posts)
            parts = [t._("{ritual}: posted to {channels}", ritual=ritual, channels=channels)]
            if replies:
                parts.append(t.n_("{n} more in the thread", "{n} more in the thread", replies))
            if any(p.post.chart for p in self.posts) and not any("chart" in w for w in self.warnings):
                parts.append(t._("chart attached"))
        parts.extend(self.warnings)
        parts.extend(self.problems)
        return t._("{parts}.", parts=t._("; ").join(parts))


class RitualEngine:
    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        crm: CRM,
        desk: DealDesk,
        people: PeopleDirectory,
        config: Callable[[], RitualsConfig],
        render: Renderer,
        clock: Callable[[], datetime],
        instance: str | None = None,
        reports: ReportRenderers | None = None,
        post: Poster | None = None,
        crm_label: str = "the CRM",
        history_retention: timedelta = HISTORY_RETENTION,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`reports` and `post` serve the manager rituals (Block Kit and channel posts)."""
        self._sessions = sessions
        self._crm = crm
        self._desk = desk
        self._people = people
        self._config = config
        self._render = render
        self._clock = clock
        self.instance = instance or f"{socket.gethostname()}-{os.getpid()}"
        self._reports = reports
        self._post = post
        self._crm_label = crm_label
        self._history_retention = history_retention
        self._sleep = sleep
        self._dms = DMQueue(sessions, clock)
        self._token_problem: str | None = None  # said once, until a DM goes out again

    # --- running a ritual ---

    def run(
        self,
        ritual_id: str,
        *,
        scheduled_for: datetime | None = None,
        dry_run: bool = False,
        refresh: bool = True,
    ) -> RunReport:
        """One firing. A second run for the same scheduled time does nothing; a dry run claims nothing."""
        config = self._config()
        ritual = config.scheduled_ritual(ritual_id)
        now = self._clock()
        slot = (scheduled_for or now).astimezone(UTC).replace(second=0, microsecond=0)
        report = RunReport(ritual.id, ritual.kind, slot, dry_run=dry_run)
        if refresh:
            try:
                sync_mirror(self._crm, self._sessions, now=now, history_retention=self._history_retention)
            except CrmError as exc:  # the mirror is still there: run on it, and say so
                report.crm_problem = str(exc)
                log.warning("ritual %s runs on the mirror as it is: %s", ritual.id, exc)
        firing_id = 0
        if not dry_run:
            with self._sessions.begin() as session:
                claimed = firing.claim(session, ritual, slot, claimed_by=self.instance, now=now)
            if claimed is None:
                report.already_ran = True
                return report
            firing_id = report.firing_id = claimed
        try:
            if isinstance(ritual, PipelineDigestRitual | AdoptionReportRitual):
                self._run_report(ritual, config, report, now=now)
            elif isinstance(ritual, OneOnOnePrepRitual):
                self._plan_prep(ritual, config, report, now=now, firing_id=firing_id)
            else:
                self._plan(ritual, config, report, now=now, firing_id=firing_id)
        except Exception:
            if not dry_run:
                with self._sessions.begin() as session:
                    firing.finish(
                        session, firing_id, status="failed", summary="failed; see logs", now=self._clock()
                    )
            raise
        if not dry_run:
            status = "failed" if report.post_problem else "done"
            with self._sessions.begin() as session:
                firing.finish(session, firing_id, status=status, summary=report.summary(), now=self._clock())
        return report

    # --- manager rituals ---

    def _renderers(self) -> ReportRenderers:
        if self._reports is None:
            raise RuntimeError("this engine was built without report renderers")
        return self._reports

    def _run_report(
        self,
        ritual: PipelineDigestRitual | AdoptionReportRitual,
        config: RitualsConfig,
        report: RunReport,
        *,
        now: datetime,
    ) -> None:
        """Work out the report, render it with its chart, and post it once (unless a dry run)."""
        renderers = self._renderers()
        t = channel_language(ritual, config)
        if isinstance(ritual, PipelineDigestRitual):
            digest = digest_for(
                ritual,
                config,
                self._sessions,
                now=now,
                deal_url=self._crm.deal_url,
                crm_label=self._crm_label,
                history_retention=self._history_retention,
            )
            post = renderers.digest(digest, ritual.mention, t=t)  # may warn about the mention
            report.warnings.extend(digest.warnings)
            post = with_chart(post, lambda: digest_chart(digest, t=t), report.warnings)
        else:
            adoption = self._adoption(ritual, config, report, now=now)
            post = with_chart(
                renderers.adoption(adoption, t=t), lambda: adoption_chart(adoption, t=t), report.warnings
            )
        report.posts.append(PlannedPost(ritual.channel, post))
        if report.dry_run:
            return
        report.post_problem = self._deliver_post(ritual.channel, post, report)

    def _adoption(
        self, ritual: AdoptionReportRitual, config: RitualsConfig, report: RunReport, *, now: datetime
    ) -> AdoptionReport:
        stale = stale_ritual(config) or StaleDealsRitual(
            id="stale-window", kind="stale_deals", schedule="0 9 * * mon"
        )
        pipelines = self._desk.pipeline_ids(stale.pipelines) if stale.pipelines else None
        deals = self._desk.open_deals(pipelines)
        slack_ids: dict[str, str] = {}
        zone = ZoneInfo(ritual.timezone_name)
        for owner_id in sorted({d.owner_id for d in deals if d.owner_id}):
            try:
                profile = self._people.slack_for_owner(owner_id)
            except LookupUnavailable as exc:
                report.slack_problems.append(f"{self._people.owner_name(owner_id)} ({exc})")
                continue
            if profile is not None:
                slack_ids[owner_id] = profile.slack_id
        findings = stale_findings(
            stale,
            deals,
            now=now,
            today_for=lambda _owner: now.astimezone(zone).date(),
            t_for=lambda _owner: translator(self._people.default_language),  # counted, not read
        )
        with self._sessions.begin() as session:
            return adoption_for(
                ritual,
                config,
                session,
                findings=findings,
                slack_ids=slack_ids,
                now=now,
                record=not report.dry_run,
            )

    def _deliver_post(self, channel: str, post: ChannelPost, report: RunReport) -> str | None:
        """Post, retrying a Slack outage a few times; the reason when nothing could be posted."""
        if self._post is None:
            raise RuntimeError("this engine was built without a channel poster")
        problem = "not attempted"
        for attempt in range(POST_ATTEMPTS):
            try:
                outcome = self._post(channel, post)
            except DeliveryError as exc:
                problem = str(exc)
                if exc.permanent:  # the report says why; retrying cannot help
                    return problem
                log.warning("posting to %s failed (attempt %d), will retry: %s", channel, attempt + 1, exc)
                if attempt < len(RETRY_DELAYS):
                    self._sleep(RETRY_DELAYS[attempt])
                continue
            report.posted.append(outcome)
            report.warnings.extend(outcome.warnings)
            return None
        return problem

    def _plan_prep(
        self,
        ritual: OneOnOnePrepRitual,
        config: RitualsConfig,
        report: RunReport,
        *,
        now: datetime,
        firing_id: int,
    ) -> None:
        """One DM per (manager, direct report), each its own message, after the manager's quiet hours."""
        renderers = self._renderers()
        plan = prep_for(
            ritual,
            config,
            self._sessions,
            desk=self._desk,
            people=self._people,
            now=now,
            history_retention=self._history_retention,
        )
        report.problems.extend(plan.problems)
        for planned in plan.briefs:
            manager = planned.manager
            tz = person_zone(manager.tz, config)
            day = report.scheduled_for.astimezone(tz).date()
            message = renderers.prep(planned.brief, t=planned.t)
            with self._sessions.begin() as session:
                subject = f"prep:{planned.rep_owner_id}"
                if report.dry_run:
                    if _nudged(session, manager.slack_id, subject, ritual.id, day):
                        report.already_nudged += 1
                        continue
                elif not _record_nudge(session, manager.slack_id, subject, ritual.id, day, firing_id, now):
                    report.already_nudged += 1
                    continue
                when = send_after(now, tz, config.quiet_hours)
                report.dms.append(
                    PlannedDM(manager.slack_id, manager.name, message.text, message.blocks, [], when)
                )
                if not report.dry_run:
                    session.add(
                        PendingDM(
                            slack_user=manager.slack_id,
                            firing_id=firing_id,
                            ritual_id=ritual.id,
                            text=message.text,
                            blocks=message.blocks,
                            send_after=when,
                            tz=tz.key,
                            status="pending",
                            attempts=0,
                            standalone=True,
                        )
                    )

    def _plan(
        self,
        ritual: StaleDealsRitual | HygieneRitual | Any,
        config: RitualsConfig,
        report: RunReport,
        *,
        now: datetime,
        firing_id: int,
    ) -> None:
        tz_cache: dict[str, tuple[str, str, ZoneInfo, Translator] | None] = {}

        def person(owner_id: str) -> tuple[str, str, ZoneInfo, Translator] | None:
            if owner_id not in tz_cache:
                try:
                    profile = self._people.slack_for_owner(owner_id)
                except LookupUnavailable as exc:
                    report.slack_problems.append(f"{self._people.owner_name(owner_id)} ({exc})")
                    profile = None
                reads = translator(self._people.language_of(profile)) if profile else None
                tz_cache[owner_id] = (
                    None
                    if profile is None or reads is None
                    else (
                        profile.slack_id,
                        # "Hi there!" when Slack has no name for them
                        profile.name.split()[0] if profile.name else reads._("there"),
                        person_zone(profile.tz, config),
                        reads,
                    )
                )
            return tz_cache[owner_id]

        def today_for(owner_id: str) -> date:
            found = person(owner_id)
            return now.astimezone(found[2] if found else ZoneInfo(config.timezone)).date()

        def t_for(owner_id: str) -> Translator:
            """The language the owner reads their DM in (no one to DM: the file's)."""
            found = person(owner_id)
            return found[3] if found else translator(self._people.default_language)

        if isinstance(ritual, StaleDealsRitual):
            pipelines = self._desk.pipeline_ids(ritual.pipelines) if ritual.pipelines else None
            deals = self._desk.open_deals(pipelines)
            findings = stale_findings(
                ritual,
                deals,
                now=now,
                today_for=today_for,
                t_for=t_for,
            )
            limit, snooze_days = ritual.max_per_message, list(ritual.snooze_days)
            if not report.dry_run:
                with self._sessions.begin() as session:
                    record_review_weeks(session, findings, today_for)
        else:
            deals = self._desk.open_deals()
            findings = hygiene_findings(
                ritual,
                deals,
                today_for=today_for,
                t_for=t_for,
                stage_matches=self._stage_matcher(),
            )
            limit, snooze_days = 10, [3, 7, 14]
        for owner_id, found in sorted(findings.items()):
            if not found.items:
                continue
            who = person(owner_id)
            if who is None:
                name = self._people.owner_name(owner_id)
                if not any(p.startswith(name) for p in report.slack_problems):
                    report.unmatched_owners.append(name)
                continue
            slack_id, first_name, tz, t = who
            self._plan_person(
                ritual.id,
                ritual.kind,
                config,
                report,
                found,
                slack_id,
                first_name,
                tz,
                now=now,
                firing_id=firing_id,
                limit=limit,
                snooze_days=snooze_days,
                t=t,
            )

    def _plan_person(
        self,
        ritual_id: str,
        kind: str,
        config: RitualsConfig,
        report: RunReport,
        found: OwnerFindings,
        slack_id: str,
        first_name: str,
        tz: ZoneInfo,
        *,
        now: datetime,
        firing_id: int,
        limit: int,
        snooze_days: list[int],
        t: Translator,
    ) -> None:
        # The firing's own day (a late catch-up run still belongs to the day it was scheduled for).
        day = report.scheduled_for.astimezone(tz).date()
        with self._sessions.begin() as session:
            items = found.items
            if not report.dry_run:
                items = [
                    i
                    for i in items
                    if _record_nudge(session, slack_id, i.deal.id, ritual_id, day, firing_id, now)
                ]
            else:
                items = [i for i in items if not _nudged(session, slack_id, i.deal.id, ritual_id, day)]
            report.already_nudged += len(found.items) - len(items)
            if not items:
                return
            streak = current_streak(session, found.owner_id, day)
            message = NudgeMessage(
                ritual_id=ritual_id,
                kind=kind,
                first_name=first_name,
                items=items[:limit],
                more=max(len(items) - limit, 0),
                open_count=found.open_count,
                fresh_count=found.fresh_count,
                streak=streak,
                snooze_days=snooze_days,
            )
            text, blocks = self._render(message, t=t)
            # Spacing first, then quiet hours: a DM an hour after the last one may land in the night.
            when = send_after(max(now, next_dm_slot(session, slack_id, now)), tz, config.quiet_hours)
            report.dms.append(
                PlannedDM(slack_id, first_name, text, blocks, [i.deal.id for i in items[:limit]], when)
            )
            if not report.dry_run:
                session.add(
                    PendingDM(
                        slack_user=slack_id,
                        firing_id=firing_id,
                        ritual_id=ritual_id,
                        text=text,
                        blocks=blocks,
                        send_after=when,
                        tz=tz.key,
                        status="pending",
                        attempts=0,
                    )
                )

    def _stage_matcher(self) -> Callable[[DealView, Sequence[str]], bool]:
        def matches(deal: DealView, stages: Sequence[str]) -> bool:
            return named(deal.stage_id, deal.stage_label, stages)

        return matches

    def refresh_mirror(self, *, full: bool = False) -> SyncResult:
        """What /deal and App Home read: refreshed from the CRM (incrementally unless `full`)."""
        return sync_mirror(
            self._crm, self._sessions, now=self._clock(), full=full, history_retention=self._history_retention
        )

    def run_scheduled(self, ritual_id: str) -> RunReport:
        """The firing whose time has just come: keyed by its scheduled time, however late this runs."""
        ritual = self._config().scheduled_ritual(ritual_id)
        now = self._clock()
        slots = firing.firings_between(ritual, now - firing.LOOKBACK, now)
        return self.run(ritual_id, scheduled_for=slots[-1] if slots else now)

    # --- catching up and delivering ---

    def catch_up(self) -> list[RunReport]:
        """After downtime: run each ritual's most recent missed firing once if within its grace window."""
        reports = []
        now = self._clock()
        for ritual in self._config().scheduled:
            if not ritual.enabled:
                continue
            with self._sessions() as session:
                last = firing.last_claimed(session, ritual.id)
            missed = firing.missed_outside_grace(ritual, now, last)
            if missed:
                log.info(
                    "ritual %s missed %d firing(s) beyond its %d-minute grace window; skipped",
                    ritual.id,
                    len(missed),
                    ritual.grace_minutes,
                )
            due = firing.due_firing(ritual, now, last)
            if due is not None:
                reports.append(self.run(ritual.id, scheduled_for=due.scheduled_for))
        return reports

    def deliver_due(self, send: Sender, *, limit: int = 500, only_firing: int | None = None) -> int:
        """Send the DMs whose time has come, one message per person (batching what is due together);
        returns how many people got one. Each person's DMs are claimed just before sending, with a
        lease: a slow run that loses its claim cannot record (or repeat) what another deliverer did."""
        delivered = 0
        refused: list[DeliveryError] = []

        def deliver(rows: list[PendingDM]) -> None:
            nonlocal delivered
            if refused:  # the token is refused: hold everyone's DMs, ask Slack nothing more this run
                self._hold(rows, refused[0])
                return
            try:
                delivered += self._deliver_to(rows[0].slack_user, rows, send)
            except _TokenRefused as exc:
                refused.append(exc.cause)
                self._hold(rows, exc.cause)
                if self._token_problem != exc.cause.error:
                    self._token_problem = exc.cause.error
                    log.error(
                        "Slack refused the bot token (%s): DMs are held, not dropped, until "
                        "SLACK_BOT_TOKEN is fixed; /healthz reports it",
                        exc.cause.error,
                    )

        where = [] if only_firing is None else [PendingDM.firing_id == only_firing]
        dm_worker(self._dms, deliver).run_once(where=where, limit=limit)
        if delivered and self._token_problem is not None:
            log.info("Slack takes the bot token again; held DMs are going out")
            self._token_problem = None
        return delivered

    def _hold(self, rows: list[PendingDM], exc: DeliveryError) -> None:
        for row in rows:  # already sent or lost: the fenced update leaves it alone
            self._dms.later(row, self._retry_at(row, DM_RETRY), str(exc))

    def _deliver_to(self, user: str, rows: list[PendingDM], send: Sender) -> bool:
        alone = [r for r in rows if r.standalone]
        delivered = False
        for row in alone:
            delivered = self._send_batch(user, [row], [], send) or delivered
        together = [r for r in rows if not r.standalone]
        if together:
            batch, later = _fit(together)
            delivered = self._send_batch(user, batch, later, send) or delivered
        return delivered

    def _send_batch(self, user: str, batch: list[PendingDM], later: list[PendingDM], send: Sender) -> bool:
        text = "\n".join(r.text for r in batch)
        blocks: list[dict[str, Any]] = []
        for index, row in enumerate(batch):
            if index:
                blocks.append({"type": "divider"})
            # Two rituals may list the same deal: block ids stay unique within the message.
            blocks.extend(_prefixed(row) if len(batch) > 1 else row.blocks)
        try:
            channel, ts = send(user, text, blocks)
        except DeliveryError as exc:
            if exc.token_refused:
                raise _TokenRefused(exc) from None
            for row in batch:
                if exc.permanent:
                    self._dms.failed(row, str(exc))
                else:
                    self._dms.later(row, self._retry_at(row, DM_RETRY), str(exc))
            log.warning("DM to %s not delivered: %s", user, exc)
            return False
        for row in batch:
            self._dms.sent(row, channel, ts)
        for row in later:
            self._dms.later(row, self._retry_at(row, DM_SPACING))
        return True

    def _retry_at(self, row: PendingDM, delay: timedelta) -> datetime:
        """A later time must still respect the person's quiet hours."""
        config = self._config()
        return send_after(self._clock() + delay, person_zone(row.tz, config), config.quiet_hours)


def next_dm_slot(session: Session, slack_id: str, now: datetime) -> datetime:
    """Never a second DM within an hour: after the last one sent, or with one still waiting."""
    # 1:1 prep DMs go to managers as messages of their own: they neither space nor batch nudges.
    batched = [PendingDM.slack_user == slack_id, PendingDM.standalone.is_(False)]
    last_sent = session.scalar(
        select(func.max(PendingDM.sent_at)).where(*batched, PendingDM.status == "sent")
    )
    waiting = session.scalar(
        select(func.min(PendingDM.send_after)).where(*batched, PendingDM.status == "pending")
    )
    if waiting is not None:
        return waiting  # batched with it at delivery
    if last_sent is not None and now - last_sent < DM_SPACING:
        return last_sent + DM_SPACING
    return now


def _fit(rows: list[PendingDM]) -> tuple[list[PendingDM], list[PendingDM]]:
    """As many queued DMs as fit Slack's 50 blocks in one message; the rest wait an hour."""
    batch: list[PendingDM] = []
    used = 0
    for index, row in enumerate(rows):
        needed = len(row.blocks) + (1 if batch else 0)
        if batch and used + needed > MAX_BLOCKS:
            return batch, rows[index:]
        batch.append(row)
        used += needed
    return batch, []


def _record_nudge(
    session: Session, slack_user: str, deal_id: str, ritual_id: str, day: date, firing_id: int, now: datetime
) -> bool:
    insert = dialect_insert(session)
    inserted = session.scalar(
        insert(NudgeRecord)
        .values(
            slack_user=slack_user,
            deal_id=deal_id,
            ritual_id=ritual_id,
            day=day,
            firing_id=firing_id,
            queued_at=now,
        )
        .on_conflict_do_nothing(index_elements=["slack_user", "deal_id", "ritual_id", "day"])
        .returning(NudgeRecord.id)
    )
    return inserted is not None


def _nudged(session: Session, slack_user: str, deal_id: str, ritual_id: str, day: date) -> bool:
    return (
        session.scalar(
            select(NudgeRecord.id).where(
                NudgeRecord.slack_user == slack_user,
                NudgeRecord.deal_id == deal_id,
                NudgeRecord.ritual_id == ritual_id,
                NudgeRecord.day == day,
            )
        )
        is not None
    )


def person_zone(name: str | None, config: RitualsConfig) -> ZoneInfo:
    """A person's zone from Slack, else the rituals file's, else UTC."""
    for candidate in (name, config.timezone, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (KeyError, ValueError):
                continue
    return ZoneInfo("UTC")


def _prefixed(row: PendingDM) -> list[dict[str, Any]]:
    return [
        {**block, "block_id": f"r{row.id}-{block['block_id']}"} if "block_id" in block else block
        for block in row.blocks
    ]
