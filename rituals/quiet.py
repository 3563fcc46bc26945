"""Quiet hours: a DM due inside a person's quiet window waits for its end, in their own time zone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from rituals.config import QuietHours


def send_after(now: datetime, tz: ZoneInfo, quiet: QuietHours | None) -> datetime:
    """`now` when outside quiet hours, else the end of the window (today's or tomorrow's), as UTC-aware."""
    if quiet is None:
        return now
    local = now.astimezone(tz)
    if not quiet.contains(local.time()):
        return now
    end_today = _at(local, quiet.end)
    end = end_today if end_today > local else _at(local + timedelta(days=1), quiet.end)
    return end.astimezone(now.tzinfo)


def _at(day: datetime, moment: time) -> datetime:
    """That local wall-clock time on that day; a time skipped by DST moves forward like the clock."""
    naive = datetime.combine(day.date(), moment.replace(tzinfo=None))
    tz = day.tzinfo
    assert isinstance(tz, ZoneInfo)
    local = naive.replace(tzinfo=tz)
    # Round-trip through UTC to normalise a non-existent time (spring forward).
    return local.astimezone(ZoneInfo("UTC")).astimezone(tz)
