"""Deal alerts: the changes each sync found, matched against the `deal_alert` rules, said once.

A change is a new row of the pipeline history (`core.mirror.history`) together with the row it
replaced: every sync, webhook refresh and Drumbeat write records one, and the history's own
guard makes it one row per change whatever replica saw it. Each look takes the rows no look has
checked yet (`alerts_checked_at`), however late a long sync committed them. A (rule, change) that
matches gets a unique `alert_matches` row; saying it sets `said_at` on that row in the same
transaction as the post or DM it queues, so each is said exactly once across replicas, restarts,
overlapping syncs and a webhook seen again by the poll.

The mirror as it was when alerts first looked is the past, not news. More matches of a rule than
`max_posts_per_sync` within a few minutes become one summary: a bulk change seen by one sync at
once, or arriving in webhook batches (then held until the burst settles).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, delete, func, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from core.deals.values import named
from core.i18n import ENGLISH, Translator, translator
from core.models import (
    AlertMatch,
    AlertPost,
    DealHistory,
    MirrorDeal,
    MirrorOwner,
    MirrorPipeline,
    MirrorStage,
    OutboxEntry,
    PendingDM,
    SyncState,
)
from core.people import LookupUnavailable, PeopleDirectory, SlackProfile
from core.queues.alert_posts import AlertPostQueue
from core.queues.leased import attempts_of
from core.sql import dialect_insert
from rituals.config import DealAlertRitual, RitualsConfig
from rituals.digest import DealScope, scope_for
from rituals.engine import DeliveryError, next_dm_slot, person_zone
from rituals.manager_rituals import Poster
from rituals.posts import ChannelPost, SlackMessage
from rituals.quiet import send_after

log = logging.getLogger(__name__)

__all__ = [
    "AlertRenderer",
    "AlertReport",
    "Change",
    "DealAlerts",
    "PlannedAlert",
    "matches",
]

ALERTS = "alerts"  # its sync_state row: `last_sync_at` is when alerts started watching
BURST = timedelta(minutes=5)  # matches of a rule within this window count together toward a summary
KEEP = timedelta(days=7)  # matches and posted alerts kept this long (a change is checked only once)
MAX_ROWS = 5000  # history rows one look takes; the rest wait for the next look
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Change:
    """One change of a deal's tracked state, as the history recorded it, with what a message needs."""

    history_id: int
    deal_id: str
    at: datetime
    deal_name: str
    url: str
    is_new: bool  # created after alerts started watching
    pipeline_id: str
    pipeline_label: str
    stage_id: str
    stage_label: str
    amount: Decimal | None
    currency: str | None
    close_date: date | None
    owner_id: str | None
    owner_name: str
    is_won: bool
    is_closed: bool
    # The state before, None for a new deal.
    before_stage_id: str | None = None
    before_stage_label: str | None = None
    before_amount: Decimal | None = None
    before_close_date: date | None = None
    before_owner_id: str | None = None
    before_owner_name: str | None = None
    changed_by: str | None = None  # the Slack user who made it through Drumbeat

    @property
    def stage_moved(self) -> bool:
        return self.before_stage_id is not None and self.before_stage_id != self.stage_id

    @property
    def owner_moved(self) -> bool:
        return not self.is_new and self.before_owner_id != self.owner_id

    @property
    def close_pushed_days(self) -> int:
        if self.before_close_date is None or self.close_date is None:
            return 0
        return (self.close_date - self.before_close_date).days

    @property
    def amount_change_percent(self) -> float | None:
        if self.before_amount is None or self.amount is None or self.before_amount == 0:
            return None
        return float((self.amount - self.before_amount) / self.before_amount * 100)


def matches(rule: DealAlertRitual, change: Change, scope: DealScope | None = None) -> bool:
    """Every condition of `when` (and the filters' scope) holds for the change."""
    when = rule.when
    if when.created and not change.is_new:
        return False
    if when.stages is not None:
        moved_in = change.stage_moved or change.is_new
        if not moved_in or not named(change.stage_id, change.stage_label, when.stages):
            return False
    if when.pipelines is not None and not named(change.pipeline_id, change.pipeline_label, when.pipelines):
        return False
    if when.amount_at_least is not None and (
        change.amount is None or change.amount < Decimal(str(when.amount_at_least))
    ):
        return False
    if when.amount_changed_by_percent is not None:
        percent = change.amount_change_percent
        if percent is None or abs(percent) < when.amount_changed_by_percent:
            return False
    if (
        when.close_date_pushed_by_days is not None
        and change.close_pushed_days < when.close_date_pushed_by_days
    ):
        return False
    if when.owner_changed and not change.owner_moved:
        return False
    if scope is not None:
        if scope.pipeline_ids is not None and change.pipeline_id not in scope.pipeline_ids:
            return False
        if scope.owner_ids is not None and change.owner_id not in scope.owner_ids:
            return False
    return True


class AlertRenderer(Protocol):
    """Block Kit for alerts, from the Slack side (`handlers.alerts`), in the reader's language `t`."""

    def one(
        self, rule: DealAlertRitual, change: Change, owner_slack: str | None, *, t: Translator
    ) -> SlackMessage: ...

    def summary(
        self, rule: DealAlertRitual, changes: Sequence[Change], *, as_dm: bool = False, t: Translator
    ) -> ChannelPost: ...


@dataclass(frozen=True, slots=True)
class PlannedAlert:
    """What one rule says, to `target`: a channel, or the Slack user of a DM."""

    ritual_id: str
    target: str  # a channel as the rituals file names it, or a Slack user id
    is_dm: bool
    post: ChannelPost
    deals: int


@dataclass
class AlertReport:
    """What one look found and queued, and what it could not do (for the log and `drumbeat sync`)."""

    started_watching: bool = False
    changes: int = 0
    planned: list[PlannedAlert] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self, t: Translator = ENGLISH) -> str:
        """One line for the log (English) or for a person (`t`)."""
        if self.started_watching:
            return t._("deal alerts: watching for changes from now on")
        channel = sum(1 for p in self.planned if not p.is_dm)
        text = t._(
            "deal alerts: {changes} looked at, {posts}, {dms}",
            changes=t.n_("{n} change", "{n} changes", self.changes),
            posts=t.n_("{n} channel post", "{n} channel posts", channel),
            dms=t.n_("{n} DM", "{n} DMs", len(self.planned) - channel),
        )
        return text + "".join(f"; {w}" for w in self.warnings)


class DealAlerts:
    """Evaluates the alert rules on the history's new changes and queues what they say."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        config: Callable[[], RitualsConfig],
        people: PeopleDirectory,
        render: AlertRenderer,
        deal_url: Callable[[str], str],
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._config = config
        self._people = people
        self._render = render
        self._deal_url = deal_url
        self._clock = clock

    def evaluate(
        self, *, dry_run: bool = False, since: datetime | None = None, settle: timedelta = timedelta(0)
    ) -> AlertReport:
        """Queue what the rules say about the changes no look has checked yet; `dry_run` claims nothing.

        `settle` holds a burst's matches until none came for that long (webhook batches); the minute's
        sync says everything held. `since` looks at every change after it, checked or not, counting
        deals created since then as new (the demo's seeded week, with `dry_run`).
        """
        config = self._config()
        rules = [r for r in config.alerts if r.enabled]
        report = AlertReport()
        now = self._clock()
        with self._sessions() as session:
            state = session.get(SyncState, ALERTS)
        watching_since = since or (state.last_sync_at if state else None)
        if watching_since is None:
            report.started_watching = True
            if not dry_run:
                with self._sessions.begin() as session:
                    _start_watching(session, now)
            return report
        with self._sessions() as session:
            unchecked = DealHistory.valid_from > since if since else _unchecked(watching_since)
            fresh = _changes(session, unchecked, watching_since, self._deal_url)
            held = _held(session, [r.id for r in rules], watching_since, self._deal_url)
            recent = _said_since(session, now - BURST)
            scopes = {rule.id: _scope(session, rule) for rule in rules}
        report.changes = len(fresh)
        found = {rule.id: [c for c in fresh if matches(rule, c, scopes[rule.id])] for rule in rules}
        # Slack look-ups first: they write the people cache, which must not wait on the claims.
        people = _People(self._people, config, report)
        for rule in rules:
            people.resolve(rule, [*found[rule.id], *(change for change, _ in held.get(rule.id, []))])
        if dry_run:
            for rule in rules:
                report.planned.extend(self._plan(rule, found[rule.id], people, burst=False))
            return report
        with self._sessions.begin() as session:
            _claim(session, [(rule.id, c) for rule in rules for c in found[rule.id]], now)
            for rule in rules:
                pending = [*held.get(rule.id, []), *((c, now) for c in found[rule.id])]
                if not pending:
                    continue
                burst = len(pending) + recent.get(rule.id, 0) > rule.max_posts_per_sync
                newest = max(at for _, at in pending)
                if burst and settle and now - newest < settle:
                    continue  # more of the burst may be on its way: one summary once it settles
                # A recipient Slack could not be asked about just now waits for the next look.
                ready = [c for c, _ in pending if not people.retry_later(rule, c)]
                said = _say(session, rule.id, ready, now)
                planned = self._plan(rule, [c for c in ready if c.history_id in said], people, burst=burst)
                for alert in planned:
                    _queue(session, alert, config, people.zone(alert.target), now)
                report.planned.extend(planned)
            if since is None:
                _mark_checked(session, [c.history_id for c in fresh], now)
            _forget(session, now)
        return report

    def _plan(
        self, rule: DealAlertRitual, changes: Sequence[Change], people: _People, *, burst: bool
    ) -> list[PlannedAlert]:
        if not changes:
            return []
        if rule.post_to not in ("owner", "manager"):
            return self._fit(rule, rule.post_to, False, changes, people, burst=burst)
        by_person: dict[str, list[Change]] = defaultdict(list)
        for change in changes:
            person = people.recipient(rule, change)
            if person is not None:
                by_person[person].append(change)
        return [
            alert
            for person, theirs in by_person.items()
            for alert in self._fit(rule, person, True, theirs, people, burst=burst)
        ]

    def _fit(
        self,
        rule: DealAlertRitual,
        target: str,
        is_dm: bool,
        changes: Sequence[Change],
        people: _People,
        *,
        burst: bool,
    ) -> list[PlannedAlert]:
        """One message per change, or one summary for more than the rule allows (or a burst's rest),
        in the language of the person a DM goes to, else the rule's `language:`, else the file's."""
        t = people.language(target) if is_dm else people.channel_language(rule)
        if len(changes) > rule.max_posts_per_sync or (burst and len(changes) > 1):
            return [
                PlannedAlert(
                    rule.id,
                    target,
                    is_dm,
                    self._render.summary(rule, changes, as_dm=is_dm, t=t),
                    len(changes),
                )
            ]
        return [
            PlannedAlert(
                rule.id,
                target,
                is_dm,
                ChannelPost(
                    self._render.one(rule, change, people.owner(change) if rule.mention_owner else None, t=t)
                ),
                1,
            )
            for change in changes
        ]


class _People:
    """Who an alert mentions or goes to, looked up in Slack once per evaluation."""

    def __init__(self, directory: PeopleDirectory, config: RitualsConfig, report: AlertReport) -> None:
        self._directory = directory
        self._config = config
        self._report = report
        self._owners: dict[str, SlackProfile | None] = {}
        self._recipients: dict[tuple[str, int], str | None] = {}
        self._zones: dict[str, str | None] = {}
        self._languages: dict[str, Translator] = {}
        self._unreachable_owners: set[str] = set()
        self._transient: set[tuple[str, int]] = set()

    def resolve(self, rule: DealAlertRitual, changes: Sequence[Change]) -> None:
        for change in changes:
            if rule.mention_owner:
                self._owner_profile(change)
            if rule.post_to in ("owner", "manager"):
                self._recipients[(rule.id, change.history_id)] = self._find_recipient(rule, change)

    def owner(self, change: Change) -> str | None:
        profile = self._owners.get(change.owner_id or "")
        return None if profile is None else profile.slack_id

    def recipient(self, rule: DealAlertRitual, change: Change) -> str | None:
        return self._recipients.get((rule.id, change.history_id))

    def retry_later(self, rule: DealAlertRitual, change: Change) -> bool:
        """Slack could not be asked who gets this DM: the next look tries again."""
        return (rule.id, change.history_id) in self._transient

    def zone(self, slack_id: str) -> ZoneInfo:
        return person_zone(self._zones.get(slack_id), self._config)

    def channel_language(self, rule: DealAlertRitual) -> Translator:
        return translator(rule.language or self._config.language)

    def language(self, slack_id: str) -> Translator:
        """What the person a DM goes to reads (the file's language when Slack told nothing of them)."""
        return self._languages.get(slack_id) or translator(self._directory.default_language)

    def _reaches(self, profile: SlackProfile) -> str:
        self._zones[profile.slack_id] = profile.tz
        self._languages[profile.slack_id] = translator(self._directory.language_of(profile))
        return profile.slack_id

    def _owner_profile(self, change: Change) -> SlackProfile | None:
        if change.owner_id is None:
            return None
        if change.owner_id not in self._owners:
            try:
                self._owners[change.owner_id] = self._directory.slack_for_owner(change.owner_id)
            except LookupUnavailable as exc:
                self._report.warnings.append(f"Slack could not be asked about {change.owner_name} ({exc})")
                self._owners[change.owner_id] = None
                self._unreachable_owners.add(change.owner_id)
        return self._owners[change.owner_id]

    def _find_recipient(self, rule: DealAlertRitual, change: Change) -> str | None:
        if change.owner_id is None:
            self._report.warnings.append(f"{change.deal_name} has no owner to tell ({rule.id})")
            return None
        owner = self._owner_profile(change)
        if rule.post_to == "owner":
            if owner is None and change.owner_id in self._unreachable_owners:
                self._transient.add((rule.id, change.history_id))
                return None
            if owner is None:
                self._report.warnings.append(f"{change.owner_name} has no Slack account Drumbeat can find")
                return None
            return self._reaches(owner)
        manager = manager_of(
            self._config, change.owner_id, owner.slack_id if owner else None, owner.email if owner else None
        )
        if manager is None:
            self._report.warnings.append(f"{change.owner_name} has no manager in the rituals file's people")
            return None
        try:
            found = (
                self._directory.profile_by_email(manager)
                if "@" in manager
                else self._directory.profile(manager)
            )
        except LookupUnavailable as exc:
            self._report.warnings.append(f"Slack could not be asked about {manager} ({exc})")
            self._transient.add((rule.id, change.history_id))
            return None
        if found is None:
            self._report.warnings.append(f"{manager}, {change.owner_name}'s manager, is not in Slack")
            return None
        return self._reaches(found)


def manager_of(config: RitualsConfig, owner_id: str, slack_id: str | None, email: str | None) -> str | None:
    """The manager `people:` names for this owner (a Slack user id or an email), if any."""
    keys = {k.lower() for k in (owner_id, slack_id, email) if k}
    for person in config.people:
        if person.manager and ({person.crm_owner.lower(), person.slack.lower()} & keys):
            return person.manager
    return None


def _unchecked(watching_since: datetime) -> ColumnElement[bool]:
    return and_(DealHistory.alerts_checked_at.is_(None), DealHistory.valid_from > watching_since)


def _changes(
    session: Session, which: ColumnElement[bool], watching_since: datetime, deal_url: Callable[[str], str]
) -> list[Change]:
    """The history rows `which` selects (oldest first, `MAX_ROWS` at most), each with the row it
    replaced."""
    before = aliased(DealHistory)
    rows = session.execute(
        select(DealHistory, before, MirrorDeal.name, MirrorDeal.created_at)
        .join(MirrorDeal, MirrorDeal.id == DealHistory.deal_id)
        .outerjoin(
            before, and_(before.deal_id == DealHistory.deal_id, before.valid_to == DealHistory.valid_from)
        )
        .where(which)
        .order_by(DealHistory.id)
        .limit(MAX_ROWS)
    ).all()
    if not rows:
        return []
    stages = {(s.pipeline_id, s.id): s.label for s in session.scalars(select(MirrorStage))}
    pipelines = {p.id: p.label for p in session.scalars(select(MirrorPipeline))}
    owners = {o.id: o.name for o in session.scalars(select(MirrorOwner))}
    by_drumbeat = _changed_through_drumbeat(session, [(row.deal_id, row.valid_from) for row, *_ in rows])
    changes = []
    for row, old, name, created_at in rows:
        is_new = old is None
        if is_new and (created_at is None or created_at < watching_since):
            continue  # first seen, but not created since alerts started watching: the past
        changes.append(
            Change(
                history_id=row.id,
                deal_id=row.deal_id,
                at=row.valid_from,
                deal_name=name or row.deal_id,
                url=deal_url(row.deal_id),
                is_new=is_new,
                pipeline_id=row.pipeline_id,
                pipeline_label=pipelines.get(row.pipeline_id, row.pipeline_id),
                stage_id=row.stage_id,
                stage_label=stages.get((row.pipeline_id, row.stage_id), row.stage_id),
                amount=row.amount,
                currency=row.currency,
                close_date=row.close_date,
                owner_id=row.owner_id,
                owner_name=owners.get(row.owner_id, row.owner_id) if row.owner_id else "nobody",
                is_won=row.is_won,
                is_closed=row.is_closed,
                before_stage_id=None if old is None else old.stage_id,
                before_stage_label=None
                if old is None
                else stages.get((old.pipeline_id, old.stage_id), old.stage_id),
                before_amount=None if old is None else old.amount,
                before_close_date=None if old is None else old.close_date,
                before_owner_id=None if old is None else old.owner_id,
                before_owner_name=None
                if old is None or old.owner_id is None
                else owners.get(old.owner_id, old.owner_id),
                changed_by=by_drumbeat.get((row.deal_id, row.valid_from)),
            )
        )
    return changes


def _changed_through_drumbeat(
    session: Session, keys: Iterable[tuple[str, datetime]]
) -> dict[tuple[str, datetime], str]:
    """Who made a change through Drumbeat: the outbox entry completed at the moment it was recorded."""
    wanted = set(keys)
    deal_ids = sorted({deal_id for deal_id, _ in wanted})
    found: dict[tuple[str, datetime], str] = {}
    for start in range(0, len(deal_ids), 500):
        for deal_id, completed_at, who in session.execute(
            select(OutboxEntry.deal_id, OutboxEntry.completed_at, OutboxEntry.requested_by).where(
                OutboxEntry.deal_id.in_(deal_ids[start : start + 500]), OutboxEntry.status == "done"
            )
        ):
            if completed_at is not None and (deal_id, completed_at) in wanted:
                found[(deal_id, completed_at)] = who
    return found


def _claim(session: Session, matched: Sequence[tuple[str, Change]], now: datetime) -> None:
    """Record each (rule, change) matched, once whichever replica or look matched it first."""
    rows = [
        {"ritual_id": rule_id, "history_id": c.history_id, "deal_id": c.deal_id, "matched_at": now}
        for rule_id, c in matched
    ]
    insert = dialect_insert(session)
    for start in range(0, len(rows), _CHUNK):  # a bulk change must not outgrow a statement
        session.execute(
            insert(AlertMatch)
            .values(rows[start : start + _CHUNK])
            .on_conflict_do_nothing(index_elements=["ritual_id", "history_id"])
        )


def _say(session: Session, ritual_id: str, changes: Sequence[Change], now: datetime) -> set[int]:
    """Mark these matches said; returns the history ids this look won (none another look said)."""
    ids = [c.history_id for c in changes]
    won: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        won.update(
            session.scalars(
                update(AlertMatch)
                .where(
                    AlertMatch.ritual_id == ritual_id,
                    AlertMatch.history_id.in_(ids[start : start + _CHUNK]),
                    AlertMatch.said_at.is_(None),
                )
                .values(said_at=now)
                .returning(AlertMatch.history_id)
            )
        )
    return won


def _held(
    session: Session, ritual_ids: Sequence[str], watching_since: datetime, deal_url: Callable[[str], str]
) -> dict[str, list[tuple[Change, datetime]]]:
    """Matches not said yet (a burst settling, a recipient Slack could not be asked about), by rule."""
    waiting = session.execute(
        select(AlertMatch.ritual_id, AlertMatch.history_id, AlertMatch.matched_at).where(
            AlertMatch.said_at.is_(None), AlertMatch.ritual_id.in_(ritual_ids)
        )
    ).all()
    if not waiting:
        return {}
    ids = sorted({history_id for _, history_id, _ in waiting})
    by_id = {
        c.history_id: c
        for start in range(0, len(ids), _CHUNK)
        for c in _changes(session, DealHistory.id.in_(ids[start : start + _CHUNK]), watching_since, deal_url)
    }
    held: dict[str, list[tuple[Change, datetime]]] = defaultdict(list)
    for ritual_id, history_id, matched_at in waiting:
        if history_id in by_id:
            held[ritual_id].append((by_id[history_id], matched_at))
    return held


def _said_since(session: Session, moment: datetime) -> dict[str, int]:
    """How many matches each rule has said since `moment` (a burst in the making)."""
    return dict(
        session.execute(
            select(AlertMatch.ritual_id, func.count())
            .where(AlertMatch.said_at >= moment)
            .group_by(AlertMatch.ritual_id)
        ).all()
    )


def _scope(session: Session, rule: DealAlertRitual) -> DealScope | None:
    if rule.filters is None:
        return None
    filters = rule.filters
    return scope_for(session, pipelines=filters.pipelines, owners=filters.owners, teams=filters.teams)


def _start_watching(session: Session, now: datetime) -> None:
    """The first look: everything recorded so far is the past (two replicas may both be first)."""
    session.execute(
        dialect_insert(session)(SyncState)
        .values(object_type=ALERTS, crm="", last_sync_at=now)
        .on_conflict_do_nothing(index_elements=["object_type"])
    )
    session.execute(
        update(DealHistory).where(DealHistory.alerts_checked_at.is_(None)).values(alerts_checked_at=now)
    )


def _mark_checked(session: Session, history_ids: Sequence[int], now: datetime) -> None:
    for start in range(0, len(history_ids), _CHUNK):
        session.execute(
            update(DealHistory)
            .where(DealHistory.id.in_(history_ids[start : start + _CHUNK]))
            .values(alerts_checked_at=now)
        )


def _forget(session: Session, now: datetime) -> None:
    """Matches and posted alerts older than `KEEP`: a change is only ever checked once."""
    session.execute(delete(AlertMatch).where(AlertMatch.matched_at < now - KEEP))
    session.execute(delete(AlertPost).where(AlertPost.status == "posted", AlertPost.created_at < now - KEEP))


def _queue(session: Session, alert: PlannedAlert, config: RitualsConfig, tz: ZoneInfo, now: datetime) -> None:
    if not alert.is_dm:
        session.add(
            AlertPost(
                ritual_id=alert.ritual_id,
                channel=alert.target,
                text=alert.post.message.text,
                blocks=alert.post.message.blocks,
                thread=[{"text": m.text, "blocks": m.blocks} for m in alert.post.thread],
                deals=alert.deals,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        return
    when = send_after(max(now, next_dm_slot(session, alert.target, now)), tz, config.quiet_hours)
    session.add(
        PendingDM(
            slack_user=alert.target,
            firing_id=0,  # not a firing: an alert
            ritual_id=alert.ritual_id,
            text=alert.post.message.text,
            blocks=alert.post.message.blocks,
            send_after=when,
            tz=tz.key,
            status="pending",
            attempts=0,
        )
    )


def alert_poster(queue: AlertPostQueue, poster: Poster) -> Callable[[list[AlertPost]], None]:
    """Post one queued alert and record how it went (a refusal an admin must fix is kept, with why)."""

    def post(rows: list[AlertPost]) -> None:
        for row in rows:
            message = ChannelPost(
                SlackMessage(row.text, row.blocks),
                thread=[SlackMessage(m["text"], m["blocks"]) for m in row.thread],
            )
            try:
                outcome = poster(row.channel, message)
            except DeliveryError as exc:
                # An admin can fix a refused token or invite Drumbeat: a refusal is kept for a few
                # tries (a refused token for as long as it takes) before the alert is given up.
                if exc.permanent and not exc.token_refused and attempts_of(row) >= queue.spec.max_attempts:
                    log.error("deal alert %s for %s not posted: %s", row.id, row.channel, exc)
                    queue.dead_letter(row, str(exc))
                else:
                    log.warning("deal alert %s for %s waits: %s", row.id, row.channel, exc)
                    queue.retry(row, str(exc))
                continue
            if outcome.warnings:  # posted, but its list did not all make it to the thread
                log.warning("deal alert %s in %s: %s", row.id, row.channel, "; ".join(outcome.warnings))
            queue.posted(row, outcome.channel_id, outcome.ts, problem="; ".join(outcome.warnings) or None)

    return post
