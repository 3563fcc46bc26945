"""Streaks of up-to-date weeks: a week counts when, at some point in it, no open deal was stale.

`record_review_week` is the only writer of `review_weeks`.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import ReviewWeek
from core.sql import dialect_insert


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def record_review_week(
    session: Session,
    owner_id: str,
    today: date,
    *,
    open_deals: int,
    reviewed_deals: int,
    keep_figures: bool = True,
) -> None:
    """The one writer of review weeks. The week is up to date when the owner has open deals and
    none is stale; a week once up to date stays so. `keep_figures` also stores the counts (the
    week's latest) for the adoption trend, which follows the stale_deals ritual's pipelines, so
    App Home, which shows them all, leaves them be."""
    up_to_date = open_deals > 0 and reviewed_deals == open_deals
    figures = {"open_deals": open_deals, "reviewed_deals": reviewed_deals} if keep_figures else {}
    statement = dialect_insert(session)(ReviewWeek).values(
        owner_id=owner_id, week_start=week_start(today), up_to_date=up_to_date, **figures
    )
    updates = {**figures, **({"up_to_date": True} if up_to_date else {})}
    if updates:  # two App Home refreshes at once must not collide
        statement = statement.on_conflict_do_update(index_elements=["owner_id", "week_start"], set_=updates)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=["owner_id", "week_start"])
    session.execute(statement)


def current_streak(session: Session, owner_id: str, today: date) -> int:
    """Weeks in a row up to date, counting this week if it already is, else ending last week."""
    weeks = {
        w.week_start: w.up_to_date
        for w in session.scalars(select(ReviewWeek).where(ReviewWeek.owner_id == owner_id))
    }
    start = week_start(today)
    if not weeks.get(start):
        start -= timedelta(weeks=1)
    streak = 0
    while weeks.get(start):
        streak += 1
        start -= timedelta(weeks=1)
    return streak
