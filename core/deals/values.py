"""Values typed in `/deal` (and in the update modal): amounts, close dates and stages.

Every public parser returns the value or raises `ValueProblem` (a `ValueError`) whose `.message` says,
in Slack mrkdwn and in the reader's language (`t`), what was wrong and what to type instead; nothing
else is ever raised. English and French words are understood from everyone; only the reading of
`12,500` (an amount) and `15/01` (a date) depends on the person's language.
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

from core.i18n import ENGLISH, N_, Translator

__all__ = [
    "MAX_AMOUNT",
    "MAX_CLOSE_YEAR",
    "MIN_CLOSE_YEAR",
    "PAST_MARK",
    "StageOption",
    "ValueProblem",
    "control_character",
    "fold",
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


def fold(text: str) -> str:
    """Case and accents ignored, typographic apostrophes as `'`: `Étape` and `etape` are one word."""
    decomposed = unicodedata.normalize("NFD", text.casefold().replace("\u2019", "'"))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


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
    (?P<number>[.,]?[0-9](?:[0-9 .,'\u2019]*[0-9])?)
    \s* (?P<suffix>k|mm|m|bn|b)?
    \s* (?P<post>[^\sA-Za-z0-9.,'\u2019+\u2212-]|[A-Za-z]{3})?
    """,
    re.VERBOSE | re.IGNORECASE,
)
# What may group thousands: in English a comma (never a point, the decimal mark); in French a point
# or a comma too, which is why `12,500` and `12.500` have two readings there.
_GROUP_SEPARATORS = {"en": " ,'\u2019", "fr": " .,'\u2019"}
_ISO_DATE = re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})")
_DAY_MONTH_DATE = re.compile(r"[0-9]{1,2}[-/.][0-9]{1,2}(?:[-/.][0-9]{2,4})?")
_DAY_FIRST_DATE = re.compile(r"([0-9]{1,2})([-/.])([0-9]{1,2})(?:\2([0-9]{2}|[0-9]{4}))?")
_RELATIVE_DATE = re.compile(r"\+?\s*([0-9]{1,5})\s*([a-z]+)")
_UNIT_DAYS = {
    **dict.fromkeys(("d", "day", "days", "j", "jour", "jours"), 1),
    **dict.fromkeys(("w", "wk", "wks", "week", "weeks", "s", "sem", "semaine", "semaines"), 7),
}
_UNIT_MONTHS = {
    **dict.fromkeys(("m", "mo", "mos", "month", "months", "mois"), 1),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years", "a", "an", "ans", "annee", "annees"), 12),
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
            ("monday", "mon", "lundi", "lun"),
            ("tuesday", "tue", "tues", "mardi", "mar"),
            ("wednesday", "wed", "mercredi", "mer"),
            ("thursday", "thu", "thur", "thurs", "jeudi", "jeu"),
            ("friday", "fri", "vendredi", "ven"),
            ("saturday", "sat", "samedi", "sam"),
            ("sunday", "sun", "dimanche", "dim"),
        )
    )
    for name in names
}
_NEXT_WORDS = ("next ", "prochain ", "le ")
_DATE_EXAMPLES = N_("`close=2026-12-15`, `close=+2w`, `close=eom`, `close=eoq` or `close=friday`")


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


def parse_amount(raw: str, *, t: Translator = ENGLISH) -> Decimal:
    """`12000`, `12k`, `1.2m`, `2bn`, `12,500`, `€12 500`, `$12,500.50`, `12 500 €`, `EUR 12500`.

    One currency mark (symbol or ISO code, before or after) is allowed and ignored. Thousands may be
    grouped by spaces (also no-break and narrow ones), `'`, or `,` — and in French by `.` too —
    consistently, in groups of three. The decimal mark is `.`, or `,`: in English only a lone comma
    with one or two digits after it (`12,5`, `1,2M`), in French any comma (`12,5k`, `1 234,56`).
    A French speaker's `12,500` or `12.500` (one mark, three digits after it) reads as 12.5 or as
    12500: when both are amounts it is asked back, never guessed. The result is at least 0, at most
    `MAX_AMOUNT`, with at most two decimals once scaled (`1.2345k` is fine, `12.345` is not), and
    written without an exponent or needless trailing zeros (`12k` -> `Decimal("12000")`).
    """
    text = " ".join(raw.split())
    if not text:
        raise ValueProblem(t._("`amount=` needs a number, e.g. `amount=12k` or `amount=12500`."))
    shown = _shorten(text)
    if len(text) > _MAX_RAW:
        raise _not_a_number(shown, t)
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise _not_a_number(shown, t)
    if _MINUS_SIGNS & {match["sign1"], match["sign2"]}:
        raise ValueProblem(
            t._("`amount={shown}` is negative — amounts start at 0, e.g. `amount=12k`.", shown=shown)
        )
    if not _currency_ok(match["pre"], match["post"]):
        raise _not_a_number(shown, t)
    exponent = _SCALES[(match["suffix"] or "").lower()]
    readings, grouped_oddly = _readings(match["number"], t.language)
    if not readings:
        if grouped_oddly:
            raise ValueProblem(
                t._(
                    "`amount={shown}` has odd digit grouping — "
                    "write `amount=12500`, `amount=12,500` or `amount=12.5k`.",
                    shown=shown,
                )
            )
        raise _not_a_number(shown, t)
    values: list[Decimal] = []
    first_problem: ValueProblem | None = None
    for whole, fraction in readings:
        try:
            value = _scaled(whole, fraction, exponent, shown, t)
        except ValueProblem as problem:
            first_problem = first_problem or problem
            continue
        if value not in values:
            values.append(value)
    if not values:
        assert first_problem is not None
        raise first_problem
    if len(values) > 1:
        raise _two_readings(shown, values[0], values[1], t)
    return values[0]


def _readings(number: str, language: str) -> tuple[list[tuple[str, str]], bool]:
    """Each way `number` reads as (integer digits, fraction digits) in `language`, and whether a
    reading failed only on its grouping (to say so rather than "not a number")."""
    readings: list[tuple[str, str]] = []
    grouped_oddly = False
    for mark in (None, ".", ","):
        whole, fraction = number, ""
        if mark is not None:
            if number.count(mark) != 1:
                continue
            whole, fraction = number.split(mark)
            if not fraction.isascii() or not fraction.isdigit():
                continue
            if mark == "," and language == "en" and not (whole.isdigit() and 1 <= len(fraction) <= 2):
                continue  # in English a comma groups thousands, but `12,5` is a decimal comma
        elif "." in number and "." not in _GROUP_SEPARATORS[language]:
            continue
        digits = _ungrouped(whole or "0", language)
        if digits is None:
            grouped_oddly = True
        elif (digits, fraction) not in readings:
            readings.append((digits, fraction))
    return readings, grouped_oddly


def _ungrouped(whole: str, language: str) -> str | None:
    """`whole` without its thousands separators, or None when they are not one kind in threes."""
    separators = {char for char in whole if not char.isdigit()}
    if not separators:
        return whole
    separator = separators.pop()
    if separators or separator not in _GROUP_SEPARATORS[language]:
        return None
    groups = whole.split(separator)
    if not 1 <= len(groups[0]) <= 3 or groups[0].startswith("0") or any(len(g) != 3 for g in groups[1:]):
        return None
    return "".join(groups)


def _two_readings(shown: str, decimal: Decimal, grouped: Decimal, t: Translator) -> ValueProblem:
    decimal, grouped = sorted((decimal, grouped))
    return ValueProblem(
        t._(
            "`amount={shown}` could be {decimal} or {grouped}, so I changed nothing: "
            "write `amount={decimal_typed}` or `amount={grouped_typed}`.",
            shown=shown,
            decimal=t.number(decimal),
            grouped=t.number(grouped),
            decimal_typed=_typed(decimal, t),
            grouped_typed=_typed(grouped, t),
        )
    )


def _typed(value: Decimal, t: Translator) -> str:
    """How to type `value` so that it reads one way only: no grouping, the language's decimal mark
    (a comma with at most two digits after it is a decimal comma in both languages)."""
    text = format(value, "f")
    return text.replace(".", ",") if t.language == "fr" else text


def _not_a_number(shown: str, t: Translator) -> ValueProblem:
    return ValueProblem(
        t._("`amount={shown}` isn't a number — try `amount=12k` or `amount=12500`.", shown=shown)
    )


def _currency_ok(pre: str | None, post: str | None) -> bool:
    marks = [mark for mark in (pre, post) if mark is not None]
    return len(marks) <= 1 and all(m in _CURRENCY_SYMBOLS or m.upper() in _CURRENCY_CODES for m in marks)


def _scaled(whole: str, fraction: str, exponent: int, shown: str, t: Translator) -> Decimal:
    fraction = fraction.rstrip("0")
    if len(fraction) > exponent + 2:
        raise ValueProblem(
            t._(
                "`amount={shown}` has more than two decimals — round it, e.g. `amount=12500.50`.",
                shown=shown,
            )
        )
    whole = whole.lstrip("0")
    if len(whole) + exponent > 13:
        raise _too_large(shown, t)
    value = Decimal(f"{whole or '0'}.{fraction or '0'}").scaleb(exponent)
    if value > MAX_AMOUNT:
        raise _too_large(shown, t)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def _too_large(shown: str, t: Translator) -> ValueProblem:
    return ValueProblem(
        t._(
            "`amount={shown}` is more than {limit} — check the number of zeros.",
            shown=shown,
            limit=t.number(MAX_AMOUNT),
        )
    )


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


# -- close dates -----------------------------------------------------------------------------------


def parse_close_date(raw: str, *, today: date, t: Translator = ENGLISH) -> date:
    """A close date relative to `today`, the person's own local date. English and French words work
    for everyone (case and accents ignored).

    * ISO `2026-12-15` (also `2026/12/15`). For a French speaker, day first: `15/01`, `15/01/2027`,
      `15.01.27` (without a year, the nearest such day). For an English speaker `15/12` is refused
      as ambiguous (day first in Europe, month first in the US).
    * `+10d`, `+2w`, `+1m`, `+1y`, `+10j`, `+2s`, `+1mois`, `+1an` (the `+` and the unit's long form
      are optional: `2 weeks`, `2 semaines`); months and years keep the day of the month, clamped to
      the month's end (Jan 31 `+1m` -> Feb 28/29); at most ten years ahead.
    * `today`, `tomorrow`, `aujourd'hui`, `demain`; `eom` / `eoq` / `eoy`, `fdm` / `fdt` / `fda`: the
      last day of this month / calendar quarter / year.
    * a weekday, full or short (`friday`, `fri`, `next friday`, `vendredi`, `ven`, `vendredi
      prochain`): its next occurrence strictly after today, so on a Friday `friday` means in seven days.

    Only years 2000 to 2100 are taken (a typo like `0026-01-15` would reach the CRM otherwise).
    Dates in the past are returned as they are; the caller decides whether to refuse them.
    """
    text = fold(" ".join(raw.split()))
    examples = t._(_DATE_EXAMPLES)
    if not text:
        raise ValueProblem(t._("`close=` needs a date, e.g. {examples}.", examples=examples))
    shown = _shorten(" ".join(raw.split()))
    try:
        found = _date_from(text, today, shown, t)
    except ValueProblem:
        raise
    except (OverflowError, ValueError):
        raise ValueProblem(
            t._(
                "`close={shown}` is out of the calendar's range — try {examples}.",
                shown=shown,
                examples=examples,
            )
        ) from None
    if found is None:
        raise ValueProblem(
            t._("`close={shown}` isn't a date I understand — try {examples}.", shown=shown, examples=examples)
        )
    if not MIN_CLOSE_YEAR <= found.year <= MAX_CLOSE_YEAR:
        raise ValueProblem(
            t._(
                "`close={shown}` is not between {first} and {last}; check the year — try {examples}.",
                shown=shown,
                first=str(MIN_CLOSE_YEAR),
                last=str(MAX_CLOSE_YEAR),
                examples=examples,
            )
        )
    return found


def parse_close_field(raw: str, *, today: date, t: Translator = ENGLISH) -> date:
    """`close=` as typed: `parse_close_date`, and a date before `today` only when the person says
    they mean it with a trailing `!` (`close=2024-03-01!`, say for a deal that closed back then)."""
    text = raw.strip()
    meant = text.endswith(PAST_MARK)
    found = parse_close_date(text.removesuffix(PAST_MARK) if meant else text, today=today, t=t)
    if found < today and not meant:
        shown = _shorten(" ".join(text.split()))
        raise ValueProblem(
            t._("`close={shown}` is in the past; if you mean it, write `close={shown}!`.", shown=shown)
        )
    return found


def _date_from(text: str, today: date, shown: str, t: Translator) -> date | None:
    named = _named_date(text, today)
    if named is not None:
        return named
    if iso := _ISO_DATE.fullmatch(text):
        try:
            return date(int(iso[1]), int(iso[3]), int(iso[4]))
        except ValueError:
            raise ValueProblem(
                t._(
                    "`close={shown}` isn't a real date — write it as YYYY-MM-DD, e.g. `close=2026-12-15`.",
                    shown=shown,
                )
            ) from None
    if _DAY_MONTH_DATE.fullmatch(text):
        if t.language == "fr":
            return _day_first(text, today, shown, t)
        raise ValueProblem(
            t._(
                "`close={shown}` could be read two ways — write it as YYYY-MM-DD, e.g. `close=2026-12-15`.",
                shown=shown,
            )
        )
    if relative := _RELATIVE_DATE.fullmatch(text):
        return _relative_date(int(relative[1]), relative[2], today, shown, t)
    return None


def _day_first(text: str, today: date, shown: str, t: Translator) -> date:
    """`15/01`, `15/01/2027`, `15-01-27`: the day, then the month. Without a year, the nearest such
    day (`15/01` typed in December is next January; `03/12` typed on 4 December is yesterday, which
    `parse_close_field` refuses unless it ends with `!`)."""
    found = _DAY_FIRST_DATE.fullmatch(text)
    if found is not None:
        day, month = int(found[1]), int(found[3])
        if found[4] is not None:
            years = [int(found[4]) + (2000 if len(found[4]) == 2 else 0)]
        else:
            years = list(range(today.year - 1, today.year + 5))  # 29/02 waits for a leap year
        dates = []
        for year in years:
            try:
                dates.append(date(year, month, day))
            except ValueError:
                continue
        if dates:
            return min(dates, key=lambda candidate: (abs(candidate - today), candidate < today))
    raise ValueProblem(
        t._(
            "`close={shown}` isn't a real date — write the day first, e.g. `close=15/01/2027`.",
            shown=shown,
        )
    )


def _named_date(text: str, today: date) -> date | None:
    if text in {"today", "aujourd'hui", "aujourdhui", "auj"}:
        return today
    if text in {"tomorrow", "tmrw", "demain"}:
        return today + timedelta(days=1)
    if text in {"eom", "fdm"}:
        return _month_end(today.year, today.month)
    if text in {"eoq", "fdt"}:
        return _month_end(today.year, (today.month - 1) // 3 * 3 + 3)
    if text in {"eoy", "fda"}:
        return date(today.year, 12, 31)
    for word in _NEXT_WORDS:
        text = text.removeprefix(word)
    weekday = _WEEKDAYS.get(text.removesuffix(" prochain"))
    if weekday is None:
        return None
    return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)


def _relative_date(count: int, unit: str, today: date, shown: str, t: Translator) -> date | None:
    if unit in _UNIT_DAYS:
        days = count * _UNIT_DAYS[unit]
        if days > _MAX_AHEAD_DAYS:
            raise _too_far(shown, t)
        return today + timedelta(days=days)
    if unit in _UNIT_MONTHS:
        months = count * _UNIT_MONTHS[unit]
        if months > _MAX_AHEAD_MONTHS:
            raise _too_far(shown, t)
        return _add_months(today, months)
    return None


def _too_far(shown: str, t: Translator) -> ValueProblem:
    return ValueProblem(
        t._("`close={shown}` is more than ten years ahead — try `close=+2w` or `close=+3m`.", shown=shown)
    )


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(start: date, months: int) -> date:
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(start.day, calendar.monthrange(year, month + 1)[1]))


# -- stages ----------------------------------------------------------------------------------------

_WON_WORDS = frozenset({"won", "gagnee", "gagne"})
_LOST_WORDS = frozenset({"lost", "perdue", "perdu"})


def resolve_stage(raw: str, stages: Sequence[StageOption], *, t: Translator = ENGLISH) -> StageOption:
    """The stage `raw` names, matched on letters and digits only, case and accents ignored.

    In order: an exact id or label (`contract-sent`, `Contract sent` and `contractsent` are the same;
    `negociation` is `Négociation`); then `won` / `lost` (`gagnée` / `perdue`) for the pipeline's
    single closed-won / closed-lost stage; then a unique prefix of an id or label. Several matches at
    one step, or none at all, is a `ValueProblem` naming the candidates or the available stages.
    """
    options = _distinct(stages)
    wanted = _compact(raw)
    shown = _shorten(" ".join(raw.split()))
    if not options:
        raise ValueProblem(
            t._("This deal's pipeline has no stages to choose from — check the CRM's pipeline settings.")
        )
    if not wanted:
        raise ValueProblem(t._("`stage=` needs a stage, one of: {stages}.", stages=_labels(options)))
    for matches in (
        [s for s in options if wanted in {_compact(s.id), _compact(s.label)}],
        _shortcut_matches(wanted, options),
        [s for s in options if _compact(s.id).startswith(wanted) or _compact(s.label).startswith(wanted)],
    ):
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ValueProblem(
                t._(
                    "`stage={shown}` matches {stages} — type more letters.",
                    shown=shown,
                    stages=_labels(matches),
                )
            )
    guess = _stage_guess(wanted, options)
    if guess is not None:
        raise ValueProblem(
            t._(
                "No stage matches `stage={shown}`. Did you mean {guess}? Stages: {stages}.",
                shown=shown,
                guess=guess,
                stages=_labels(options),
            )
        )
    raise ValueProblem(
        t._("No stage matches `stage={shown}`. Stages: {stages}.", shown=shown, stages=_labels(options))
    )


def _distinct(stages: Sequence[StageOption]) -> list[StageOption]:
    by_id: dict[str, StageOption] = {}
    for stage in stages:
        by_id.setdefault(stage.id, stage)
    return list(by_id.values())


def _compact(text: str) -> str:
    return "".join(char for char in fold(text) if char.isalnum())


def _shortcut_matches(wanted: str, options: list[StageOption]) -> list[StageOption]:
    if wanted in _WON_WORDS:
        return [s for s in options if s.is_closed and s.is_won]
    if wanted in _LOST_WORDS:
        return [s for s in options if s.is_closed and not s.is_won]
    return []


def _labels(options: Sequence[StageOption]) -> str:
    return ", ".join(option.label.strip() or option.id for option in options)


def _stage_guess(wanted: str, options: list[StageOption]) -> str | None:
    by_compact = {_compact(s.label): s for s in reversed(options)}
    guess = difflib.get_close_matches(wanted, list(by_compact), n=1, cutoff=0.6)
    return by_compact[guess[0]].label.strip() if guess else None


def _shorten(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
