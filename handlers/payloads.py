"""Reading what a listener needs from a Slack payload whose shape `bot.slack_shapes` has checked:
the values inside (a deal id in a button, a snooze choice, a picked date) are checked here, and a
value that cannot be right gets a clear answer, never an exception."""

from __future__ import annotations

from datetime import date
from typing import Any

from core.deals.values import MAX_CLOSE_YEAR, MIN_CLOSE_YEAR
from core.i18n import N_

MAX_DEAL_ID = 64  # the deal id columns hold 64 characters
BAD_BUTTON = N_(
    "That button doesn't name a deal I can read, so nothing was changed. Run `/deal` to see yours."
)


def deal_id_in(value: object) -> str | None:
    """A deal id as our buttons carry it, or None (a number, nothing, too long, unprintable)."""
    if not isinstance(value, str) or not value or len(value) > MAX_DEAL_ID or not value.isprintable():
        return None
    return value


def option_value(action: dict[str, Any]) -> str:
    """The value of a menu's selected option; empty when there is none."""
    option = action.get("selected_option")
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else ""


def snooze_days(choice: str) -> int | None:
    """`7` from a snooze menu's `7:<deal id>`; None unless a whole number of days up to a year."""
    return int(choice) if choice.isdigit() and 0 < int(choice) <= 366 else None


def picked_date(value: object) -> date | None:
    """A datepicker's `YYYY-MM-DD` within the years a deal can close in; None otherwise."""
    try:
        picked = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None
    return picked if picked is not None and MIN_CLOSE_YEAR <= picked.year <= MAX_CLOSE_YEAR else None
