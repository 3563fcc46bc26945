"""Streaks of up-to-date weeks: a week counts when, at some point in it, no open deal was stale."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import ReviewWeek
from core.sql import dialect_insert


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def record_week(
    session: Session,
    owner_id: str,
    today: date,
    *,
    all_fresh: bool,
    open_deals: int | None = None,
    reviewed_deals: int | None = None,
) -> None:
    """Remember this week's state; a week once up to date stays so. The figures (open deals, and
    those reviewed within the window) are the week's latest, for the adoption trend."""
    figures = {} if open_deals is None else {"open_deals": open_deals, "reviewed_deals": reviewed_deals}
    statement = dialect_insert(session)(ReviewWeek).values(
        owner_id=owner_id, week_start=week_start(today), up_to_date=all_fresh, **figures
    )
    updates = {**figures, **({"up_to_date": True} if all_fresh else {})}
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
