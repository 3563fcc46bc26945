"""Streaks of up-to-date weeks: a week counts when, at some point in it, no open deal was stale."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import dialect_insert
from bot.models import ReviewWeek


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def record_week(session: Session, owner_id: str, today: date, *, all_fresh: bool) -> None:
    """Remember this week's state; a week once up to date stays so."""
    statement = dialect_insert(session)(ReviewWeek).values(
        owner_id=owner_id, week_start=week_start(today), up_to_date=all_fresh
    )
    if all_fresh:  # two App Home refreshes at once must not collide
        statement = statement.on_conflict_do_update(
            index_elements=["owner_id", "week_start"], set_={"up_to_date": True}
        )
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
