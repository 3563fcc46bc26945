"""Values typed in `/deal` (and in the update modal): amounts, close dates and stages.

Every public parser returns the value or raises `ValueProblem` (a `ValueError`) whose `.message` says,
in Slack mrkdwn, what was wrong and what to type instead; nothing else is ever raised.
"""

from __future__ import annotations

import calendar
import difflib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

__all__ = [
    "MAX_AMOUNT",
    "MAX_CLOSE_YEAR",
    "MIN_CLOSE_YEAR",
    "PAST_MARK",
    "StageOption",
    "ValueProblem",
    "control_character",
    "control_character_problem",
    "named",
    "parse_amount",
    "parse_close_date",
    "parse_close_field",
    "resolve_stage",
]


def named(ident: str, label: str, names: Iterable[str]) -> bool:
    """Whether `names` (ids or labels, as the rituals file writes them) name this pipeline or stage,
    whatever the case."""
    wanted = {name.lower() for name in names}
    return ident.lower() in wanted or label.lower() in wanted


MAX_AMOUNT = Decimal(10) ** 12
"""The largest amount accepted; anything bigger is a typo."""

_MAX_RAW = 64
_CURRENCY_SYMBOLS = frozenset("€$£¥₹₩₽₺₪₫฿₦")
_CURRENCY_CODES = frozenset(
    {
        "AUD",
        "BRL",
        "CAD",
        "CHF",
        "CNY",
        "CZK",
        "DKK",
        "EUR",
        "GBP",
        "HKD",
        "HUF",
        "INR",
        "JPY",
        "KRW",
        "MXN",
        "NOK",
        "NZD",
        "PLN",
        "SEK",
        "SGD",
        "TRY",
        "USD",
        "ZAR",
    }
)
_MINUS_SIGNS = frozenset({"-", "\u2212"})
_SCALES = {"": 0, "k": 3, "m": 6, "mm": 6, "b": 9, "bn": 9}
_AMOUNT = re.compile(
    r"""
    (?P<sign1>[-\u2212+])? \s*
    (?: (?P<pre>[^\sA-Za-z0-9.,'\u2019+\u2212-]|[A-Za-z]{3}) \s* )?
    (?P<sign2>[-\u2212+])? \s*
    (?P<int>[0-9](?:[0-9 ,'\u2019]*[0-9])?)? (?: \. (?P<frac>[0-9]+) )?
    \s* (?P<suffix>k|mm|m|bn|b)?
    \s* (?P<post>[^\sA-Za-z0-9.,'\u2019+\u2212-]|[A-Za-z]{3})?
    """,
    re.VERBOSE | re.IGNORECASE,
)
_GROUP_SEPARATORS = " ,'\u2019"
_ISO_DATE = re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})")
_DAY_MONTH_DATE = re.compile(r"[0-9]{1,2}[-/.][0-9]{1,2}(?:[-/.][0-9]{2,4})?")
_RELATIVE_DATE = re.compile(r"\+?\s*([0-9]{1,5})\s*([a-z]+)")
_UNIT_DAYS = {
    **dict.fromkeys(("d", "day", "days"), 1),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks"), 7),
}
_UNIT_MONTHS = {
    **dict.fromkeys(("m", "mo", "mos", "month", "months"), 1),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), 12),
}
MIN_CLOSE_YEAR, MAX_CLOSE_YEAR = 2000, 2100
PAST_MARK = "!"
"""After a close date, says a date in the past is meant: `close=2024-03-01!`."""
_MAX_AHEAD_DAYS = 3660
_MAX_AHEAD_MONTHS = 120
_WEEKDAYS = {
    name: index
    for index, names in enumerate(
        (
            ("monday", "mon"),
            ("tuesday", "tue", "tues"),
            ("wednesday", "wed"),
            ("thursday", "thu", "thur", "thurs"),
            ("friday", "fri"),
            ("saturday", "sat"),
            ("sunday", "sun"),
        )
    )
    for name in names
}
_DATE_EXAMPLES = "`close=2026-12-15`, `close=+2w`, `close=eom`, `close=eoq` or `close=friday`"


class ValueProblem(ValueError):
    """A value that can't be used; `.message` tells the person what to type instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class StageOption:
    """One stage of the deal's pipeline, as the CRM describes it."""

    id: str
    label: str
    is_closed: bool
    is_won: bool


# -- amounts ---------------------------------------------------------------------------------------


def parse_amount(raw: str) -> Decimal:
    """`12000`, `12k`, `1.2m`, `2bn`, `12,500`, `€12 500`, `$12,500.50`, `12 500 €`, `EUR 12500`.

    One currency mark (symbol or ISO code, before or after) is allowed and ignored. Thousands may be
    grouped by `,`, spaces (also no-break and narrow ones) or `'`, consistently, in groups of three;
    `12,5` (a lone comma with one or two digits after it) is a decimal comma. The result is at least
    0, at most `MAX_AMOUNT`, with at most two decimals once scaled (`1.2345k` is fine, `12.345` is not),
    and written without an exponent or needless trailing zeros (`12k` -> `Decimal("12000")`).
    """
    text = " ".join(raw.split())
    if not text:
        raise ValueProblem("`amount=` needs a number, e.g. `amount=12k` or `amount=12500`.")
    shown = _shorten(text)
    if len(text) > _MAX_RAW:
        raise _not_a_number(shown)
    match = _AMOUNT.fullmatch(text)
    if match is None or (match["int"] is None and match["frac"] is None):
        raise _not_a_number(shown)
    if _MINUS_SIGNS & {match["sign1"], match["sign2"]}:
        raise ValueProblem(f"`amount={shown}` is negative — amounts start at 0, e.g. `amount=12k`.")
    if not _currency_ok(match["pre"], match["post"]):
        raise _not_a_number(shown)
    digits = _plain_digits(match["int"] or "0", match["frac"])
    if digits is None:
        raise ValueProblem(
            f"`amount={shown}` has odd digit grouping — "
            "write `amount=12500`, `amount=12,500` or `amount=12.5k`."
        )
    whole, fraction = digits
    return _scaled(whole, fraction, _SCALES[(match["suffix"] or "").lower()], shown)


def _not_a_number(shown: str) -> ValueProblem:
    return ValueProblem(f"`amount={shown}` isn't a number — try `amount=12k` or `amount=12500`.")


def _currency_ok(pre: str | None, post: str | None) -> bool:
    marks = [mark for mark in (pre, post) if mark is not None]
    return len(marks) <= 1 and all(m in _CURRENCY_SYMBOLS or m.upper() in _CURRENCY_CODES for m in marks)


def _plain_digits(whole: str, fraction: str | None) -> tuple[str, str] | None:
    """(integer digits, fraction digits) without grouping, or None when the grouping is inconsistent."""
    separators = {char for char in whole if char in _GROUP_SEPARATORS}
    if not separators:
        return whole, fraction or ""
    if len(separators) > 1:
        return None
    groups = whole.split(separators.pop())
    if fraction is None and len(groups) == 2 and "," in whole and 1 <= len(groups[1]) <= 2:
        return groups[0], groups[1]
    if not 1 <= len(groups[0]) <= 3 or any(len(group) != 3 for group in groups[1:]):
        return None
    return "".join(groups), fraction or ""


def _scaled(whole: str, fraction: str, exponent: int, shown: str) -> Decimal:
    fraction = fraction.rstrip("0")
    if len(fraction) > exponent + 2:
        raise ValueProblem(f"`amount={shown}` has more than two decimals — round it, e.g. `amount=12500.50`.")
    whole = whole.lstrip("0")
    if len(whole) + exponent > 13:
        raise _too_large(shown)
    value = Decimal(f"{whole or '0'}.{fraction or '0'}").scaleb(exponent)
    if value > MAX_AMOUNT:
        raise _too_large(shown)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _too_large(shown: str) -> ValueProblem:
    return ValueProblem(f"`amount={shown}` is more than {MAX_AMOUNT:,} — check the number of zeros.")


# -- text ----------------------------------------------------------------------------------------

_ALLOWED_CONTROLS = frozenset("\t\n\r")


def control_character(text: str) -> str | None:
    """The first control character in `text` as `U+0000`, or None. Tabs and line breaks are fine;
    NUL and the rest are never meant (PostgreSQL refuses NUL, and the CRM would store them), and
    neither is a lone surrogate (it cannot be written as UTF-8)."""
    for char in text:
        if char not in _ALLOWED_CONTROLS and unicodedata.category(char) in ("Cc", "Cs"):
            return f"U+{ord(char):04X}"
    return None


def control_character_problem(text: str, what: str) -> str | None:
    """A person's message when `what` (e.g. "The note") holds a control character, else None."""
    found = control_character(text)
    if found is None:
        return None
    return f"{what} has a control character ({found}) that can't be saved; remove it and send again."


# -- close dates -----------------------------------------------------------------------------------


def parse_close_date(raw: str, *, today: date) -> date:
    """A close date relative to `today`, the person's own local date.

    * ISO `2026-12-15` (also `2026/12/15`); day-first or month-first forms like `15/12` are refused
      as ambiguous.
    * `+10d`, `+2w`, `+1m`, `+1y` (the `+` and the unit's long form are optional: `2 weeks`); months and
      years keep the day of the month, clamped to the month's end (Jan 31 `+1m` -> Feb 28/29);
      at most ten years ahead.
    * `today`, `tomorrow`, `eom` / `eoq` / `eoy`: the last day of this month / calendar quarter / year.
    * a weekday, full or short (`friday`, `fri`, also `next friday`): its next occurrence strictly
      after today, so on a Friday `friday` means in seven days.

    Only years 2000 to 2100 are taken (a typo like `0026-01-15` would reach the CRM otherwise).
    Dates in the past are returned as they are; the caller decides whether to refuse them.
    """
    text = " ".join(raw.split()).casefold()
    if not text:
        raise ValueProblem(f"`close=` needs a date, e.g. {_DATE_EXAMPLES}.")
    shown = _shorten(" ".join(raw.split()))
    try:
        found = _date_from(text, today, shown)
    except ValueProblem:
        raise
    except (OverflowError, ValueError):
        raise ValueProblem(
            f"`close={shown}` is out of the calendar's range — try {_DATE_EXAMPLES}."
        ) from None
    if found is None:
        raise ValueProblem(f"`close={shown}` isn't a date I understand — try {_DATE_EXAMPLES}.")
    if not MIN_CLOSE_YEAR <= found.year <= MAX_CLOSE_YEAR:
        raise ValueProblem(
            f"`close={shown}` is not between {MIN_CLOSE_YEAR} and {MAX_CLOSE_YEAR}; check the year "
            f"— try {_DATE_EXAMPLES}."
        )
    return found


def parse_close_field(raw: str, *, today: date) -> date:
    """`close=` as typed: `parse_close_date`, and a date before `today` only when the person says
    they mean it with a trailing `!` (`close=2024-03-01!`, say for a deal that closed back then)."""
    text = raw.strip()
    meant = text.endswith(PAST_MARK)
    found = parse_close_date(text.removesuffix(PAST_MARK) if meant else text, today=today)
    if found < today and not meant:
        shown = _shorten(" ".join(text.split()))
        raise ValueProblem(
            f"`close={shown}` is in the past; if you mean it, write `close={shown}{PAST_MARK}`."
        )
    return found


def _date_from(text: str, today: date, shown: str) -> date | None:
    named = _named_date(text, today)
    if named is not None:
        return named
    if iso := _ISO_DATE.fullmatch(text):
        try:
            return date(int(iso[1]), int(iso[3]), int(iso[4]))
        except ValueError:
            raise ValueProblem(
                f"`close={shown}` isn't a real date — write it as YYYY-MM-DD, e.g. `close=2026-12-15`."
            ) from None
    if _DAY_MONTH_DATE.fullmatch(text):
        raise ValueProblem(
            f"`close={shown}` could be read two ways — write it as YYYY-MM-DD, e.g. `close=2026-12-15`."
        )
    if relative := _RELATIVE_DATE.fullmatch(text):
        return _relative_date(int(relative[1]), relative[2], today, shown)
    return None


def _named_date(text: str, today: date) -> date | None:
    if text == "today":
        return today
    if text in {"tomorrow", "tmrw"}:
        return today + timedelta(days=1)
    if text == "eom":
        return _month_end(today.year, today.month)
    if text == "eoq":
        return _month_end(today.year, (today.month - 1) // 3 * 3 + 3)
    if text == "eoy":
        return date(today.year, 12, 31)
    weekday = _WEEKDAYS.get(text.removeprefix("next "))
    if weekday is None:
        return None
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _relative_date(count: int, unit: str, today: date, shown: str) -> date | None:
    if unit in _UNIT_DAYS:
        days = count * _UNIT_DAYS[unit]
        if days > _MAX_AHEAD_DAYS:
            raise _too_far(shown)
        return today + timedelta(days=days)
    if unit in _UNIT_MONTHS:
        months = count * _UNIT_MONTHS[unit]
        if months > _MAX_AHEAD_MONTHS:
            raise _too_far(shown)
        return _add_months(today, months)
    return None


def _too_far(shown: str) -> ValueProblem:
    return ValueProblem(f"`close={shown}` is more than ten years ahead — try `close=+2w` or `close=+3m`.")


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(start: date, months: int) -> date:
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(start.day, calendar.monthrange(year, month + 1)[1]))


# -- stages ----------------------------------------------------------------------------------------


def resolve_stage(raw: str, stages: Sequence[StageOption]) -> StageOption:
    """The stage `raw` names, matched case-insensitively on letters and digits only.

    In order: an exact id or label (`contract-sent`, `Contract sent` and `contractsent` are the same);
    then `won` / `lost` for the pipeline's single closed-won / closed-lost stage; then a unique prefix
    of an id or label. Several matches at one step, or none at all, is a `ValueProblem` naming the
    candidates or the available stages.
    """
    options = _distinct(stages)
    wanted = _compact(raw)
    shown = _shorten(" ".join(raw.split()))
    if not options:
        raise ValueProblem(
            "This deal's pipeline has no stages to choose from — check the CRM's pipeline settings."
        )
    if not wanted:
        raise ValueProblem(f"`stage=` needs a stage, one of: {_labels(options)}.")
    for matches in (
        [s for s in options if wanted in {_compact(s.id), _compact(s.label)}],
        _shortcut_matches(wanted, options),
        [s for s in options if _compact(s.id).startswith(wanted) or _compact(s.label).startswith(wanted)],
    ):
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ValueProblem(f"`stage={shown}` matches {_labels(matches)} — type more letters.")
    raise ValueProblem(
        f"No stage matches `stage={shown}`.{_stage_guess(wanted, options)} Stages: {_labels(options)}."
    )


def _distinct(stages: Sequence[StageOption]) -> list[StageOption]:
    by_id: dict[str, StageOption] = {}
    for stage in stages:
        by_id.setdefault(stage.id, stage)
    return list(by_id.values())


def _compact(text: str) -> str:
    return "".join(char for char in text.casefold() if char.isalnum())


def _shortcut_matches(wanted: str, options: list[StageOption]) -> list[StageOption]:
    if wanted == "won":
        return [s for s in options if s.is_closed and s.is_won]
    if wanted == "lost":
        return [s for s in options if s.is_closed and not s.is_won]
    return []


def _labels(options: Sequence[StageOption]) -> str:
    return ", ".join(option.label.strip() or option.id for option in options)


def _stage_guess(wanted: str, options: list[StageOption]) -> str:
    by_compact = {_compact(s.label): s for s in reversed(options)}
    guess = difflib.get_close_matches(wanted, list(by_compact), n=1, cutoff=0.6)
    return f" Did you mean {by_compact[guess[0]].label.strip()}?" if guess else ""


def _shorten(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
