"""The adoption report's figures: per rep, how current their pipeline is, how they answer nudges, and
their streak; the team's trend over 8 weeks. Plain data out; no Slack import.

Encouraging by design: the report celebrates who is on track and sums up who is catching up, with
no ranking unless the rituals file asks for one.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.deals.streaks import current_streak, record_review_week, week_start
from core.models import NudgeRecord, PendingDM, ReviewWeek
from rituals.kinds import OwnerFindings

__all__ = [
    "ANSWER_WINDOW",
    "DEFAULT_THRESHOLD",
    "TREND_WEEKS",
    "AdoptionReport",
    "NudgeAnswers",
    "RepAdoption",
    "WeekPoint",
    "build_adoption",
    "nudge_answers",
    "record_review_weeks",
]

DEFAULT_THRESHOLD = 0.8
TREND_WEEKS = 8
ANSWER_WINDOW = timedelta(days=28)


@dataclass(frozen=True, slots=True)
class NudgeAnswers:
    """Nudged deals in the answer window whose DM went out, how many got an answer, and how fast."""

    nudged: int
    answered: int
    median_answer: timedelta | None


@dataclass(frozen=True, slots=True)
class RepAdoption:
    owner_id: str
    name: str
    open_deals: int
    reviewed: int
    """Open deals reviewed within the stale_deals window (or snoozed on purpose)."""
    answers: NudgeAnswers | None
    """None when the rep is not matched to a Slack person (never nudged)."""
    streak: int
    """Up-to-date weeks in a row."""

    @property
    def share(self) -> float | None:
        return None if self.open_deals == 0 else self.reviewed / self.open_deals


@dataclass(frozen=True, slots=True)
class WeekPoint:
    week_start: date
    share: float | None
    """Share of the team's open deals reviewed that week (its latest figures); None: no data."""


@dataclass(frozen=True, slots=True)
class AdoptionReport:
    ritual_id: str
    as_of: datetime
    window_days: int
    threshold: float
    ranking: bool
    reps: list[RepAdoption]
    """By name, or best first when `ranking`."""
    trend: list[WeekPoint]
    """The last TREND_WEEKS weeks, oldest first, this week last."""

    @property
    def on_track(self) -> list[RepAdoption]:
        return [r for r in self.reps if r.share is None or r.share >= self.threshold]

    @property
    def catching_up(self) -> list[RepAdoption]:
        return [r for r in self.reps if r.share is not None and r.share < self.threshold]

    @property
    def team_share(self) -> float | None:
        open_deals = sum(r.open_deals for r in self.reps)
        return None if open_deals == 0 else sum(r.reviewed for r in self.reps) / open_deals

    @property
    def team_share_last_week(self) -> float | None:
        return self.trend[-2].share if len(self.trend) >= 2 else None


def build_adoption(
    session: Session,
    *,
    ritual_id: str,
    findings: Mapping[str, OwnerFindings],
    names: Mapping[str, str],
    slack_ids: Mapping[str, str],
    now: datetime,
    today: date,
    window_days: int,
    nudge_rituals: Sequence[str],
    threshold: float | None,
    ranking: bool,
    record: bool = True,
) -> AdoptionReport:
    """`findings` are the stale_deals findings per owner (all open deals, stale ones as items);
    `record` writes this week's figures (the streaks and the trend read them)."""
    if record:
        record_review_weeks(session, findings, lambda _owner: today)
        session.flush()
    reps = []
    for owner_id, found in findings.items():
        slack_id = slack_ids.get(owner_id)
        reps.append(
            RepAdoption(
                owner_id=owner_id,
                name=names.get(owner_id, owner_id),
                open_deals=found.open_count,
                reviewed=found.fresh_count,
                answers=None
                if slack_id is None
                else nudge_answers(session, slack_id, nudge_rituals, now=now),
                streak=current_streak(session, owner_id, today),
            )
        )
    if ranking:
        reps.sort(key=lambda r: (-(r.share if r.share is not None else 2.0), -r.streak, r.name.lower()))
    else:
        reps.sort(key=lambda r: r.name.lower())
    return AdoptionReport(
        ritual_id=ritual_id,
        as_of=now,
        window_days=window_days,
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        ranking=ranking,
        reps=reps,
        trend=_trend(session, findings, today),
    )


def record_review_weeks(
    session: Session, findings: Mapping[str, OwnerFindings], today_for: Callable[[str], date]
) -> None:
    """Each owner's week so far, from the stale_deals findings (streaks and the trend read it)."""
    for owner_id, found in findings.items():
        record_review_week(
            session,
            owner_id,
            today_for(owner_id),
            open_deals=found.open_count,
            reviewed_deals=found.fresh_count,
        )


def nudge_answers(session: Session, slack_id: str, rituals: Sequence[str], *, now: datetime) -> NudgeAnswers:
    """Deals put in front of this person in the last 4 weeks by a delivered DM, and their answers."""
    sent = (
        select(PendingDM.firing_id, func.min(PendingDM.sent_at).label("sent_at"))
        .where(PendingDM.slack_user == slack_id, PendingDM.status == "sent")
        .group_by(PendingDM.firing_id)
        .subquery()
    )
    rows = session.execute(
        select(NudgeRecord.answered_at, sent.c.sent_at)
        .join(sent, sent.c.firing_id == NudgeRecord.firing_id)
        .where(
            NudgeRecord.slack_user == slack_id,
            NudgeRecord.ritual_id.in_(list(rituals)),
            NudgeRecord.queued_at >= now - ANSWER_WINDOW,
        )
    ).all()
    waits = []
    for answered_at, sent_at in rows:
        if answered_at is not None and sent_at is not None:
            waits.append(max(answered_at - sent_at, timedelta(0)))
    answered = sum(1 for answered_at, _ in rows if answered_at is not None)
    median = timedelta(seconds=statistics.median(w.total_seconds() for w in waits)) if waits else None
    return NudgeAnswers(len(rows), answered, median)


def _trend(session: Session, findings: Mapping[str, OwnerFindings], today: date) -> list[WeekPoint]:
    """Past weeks from their recorded figures; this week from the figures just worked out."""
    owner_ids = list(findings)
    this_week = week_start(today)
    weeks = [this_week - timedelta(weeks=n) for n in range(TREND_WEEKS - 1, -1, -1)]
    rows = session.execute(
        select(ReviewWeek.week_start, func.sum(ReviewWeek.open_deals), func.sum(ReviewWeek.reviewed_deals))
        .where(
            ReviewWeek.week_start >= weeks[0],
            ReviewWeek.open_deals.is_not(None),
            ReviewWeek.owner_id.in_(owner_ids),
        )
        .group_by(ReviewWeek.week_start)
    ).all()
    figures = {start: (int(open_deals or 0), int(reviewed or 0)) for start, open_deals, reviewed in rows}
    open_now = sum(f.open_count for f in findings.values())
    figures[this_week] = (open_now, sum(f.fresh_count for f in findings.values()))
    points = []
    for start in weeks:
        open_deals, reviewed = figures.get(start, (0, 0))
        points.append(WeekPoint(start, reviewed / open_deals if open_deals else None))
    return points
