"""Injected time: everything that asks "what time is it?" takes a Clock, so tests and `--now` can set it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def fixed_clock(at: datetime) -> Clock:
    if at.tzinfo is None:
        raise ValueError("a fixed clock needs an aware datetime")
    return lambda: at


def parse_now(value: str) -> datetime:
    """`--now` values: ISO 8601; a time without an offset is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--now must be an ISO 8601 date-time such as 2026-11-23T09:00:00+01:00, not {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
