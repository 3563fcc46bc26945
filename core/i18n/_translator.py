"""A reader's language: their messages from the gettext catalog, their numbers, money and dates by Babel."""

from __future__ import annotations

import datetime as dt
import gettext
import re
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from typing import Literal

from babel import Locale
from babel.dates import format_date, format_time
from babel.lists import format_list
from babel.numbers import (
    format_compact_currency,
    format_compact_decimal,
    format_currency,
    format_decimal,
    format_percent,
)

from core.i18n._catalog import translations

Language = Literal["en", "fr"]
LANGUAGES: tuple[Language, ...] = ("en", "fr")
DEFAULT_LANGUAGE: Language = "en"

# English as written in Europe (day before month, weeks from Monday, `€12,500`, `US$` for dollars):
# Drumbeat's teams are European; "English (world)" is the CLDR locale that writes it so.
_BABEL_LOCALES: dict[Language, str] = {"en": "en_001", "fr": "fr_FR"}
MISSING = "—"  # how an amount or date that is not set reads, in every language


def N_(message: str) -> str:
    """Marks a message for the catalog where it is defined; translate it where it is shown: `t._(X)`."""
    return message


class Translator:
    """Everything language-dependent a message needs, for one language.

    `_` and `n_` look the English message up in the catalog, then fill its `{named}` placeholders:
    a sentence is always translated whole, never assembled from translated pieces.
    """

    def __init__(self, language: Language) -> None:
        self.language: Language = language
        self.locale = Locale.parse(_BABEL_LOCALES[language])
        self._catalog: gettext.NullTranslations = translations(language)

    def __repr__(self) -> str:
        return f"Translator({self.language!r})"

    # --- messages ---

    def _(self, message: str, /, **params: object) -> str:
        text = self._catalog.gettext(message)
        return text.format(**params) if params else text

    def n_(self, singular: str, plural: str, count: int, /, **params: object) -> str:
        """The plural form `count` takes in this language (French: 0 and 1 are singular); `{n}` is it."""
        text = self._catalog.ngettext(singular, plural, count)
        return text.format(n=self.number(count), **params)

    # --- numbers and money ---

    def number(self, value: int | float | Decimal) -> str:
        return format_decimal(value, locale=self.locale)

    def percent(self, ratio: float | Decimal, *, digits: int = 0) -> str:
        """`0.125` → `12%` / `12 %`; `digits` decimals when a whole percent would hide the change."""
        rounded = Decimal(str(ratio)).quantize(Decimal(1).scaleb(-(digits + 2)), rounding=ROUND_HALF_UP)
        return format_percent(rounded, locale=self.locale, decimal_quantization=False)

    def money(self, amount: Decimal | int | None, currency: str | None) -> str:
        """`€12,500` / `12 500 €`; cents only when there are some; no currency: the number alone."""
        if amount is None:
            return MISSING
        if not currency:
            return format_decimal(amount, locale=self.locale)
        whole = Decimal(amount) == Decimal(amount).to_integral_value()
        pattern = self.locale.currency_formats["standard"].pattern
        if whole:
            pattern = pattern.replace(".00", "")
        text = format_currency(
            amount, currency.upper(), format=pattern, locale=self.locale, currency_digits=not whole
        )
        return _space_currency_code(text)

    def money_short(self, amount: Decimal | int | None, currency: str | None) -> str:
        """`€1.2M` / `1,2 M €` for headlines and charts, where the exact figure is one click away."""
        if amount is None:
            return MISSING
        if Decimal(amount).copy_abs() < 1000:
            return self.money(amount, currency)
        if not currency:
            return format_compact_decimal(amount, locale=self.locale, fraction_digits=1)
        return _space_currency_code(
            format_compact_currency(amount, currency.upper(), locale=self.locale, fraction_digits=1)
        )

    # --- dates and times ---

    def date(self, value: dt.date | None) -> str:
        """`4 Dec 2026` / `4 déc. 2026`."""
        return format_date(value, "medium", locale=self.locale) if value else MISSING

    def day(self, value: dt.date | None) -> str:
        """`Fri 4 Dec` / `ven. 4 déc.`: a date near enough that the year goes without saying."""
        return format_date(value, "EEE d MMM", locale=self.locale) if value else MISSING

    def day_month(self, value: dt.date | None) -> str:
        """`4 Dec` / `4 déc.`, for chart axes and short lists."""
        return format_date(value, "d MMM", locale=self.locale) if value else MISSING

    def long_day(self, value: dt.date | None) -> str:
        """`Friday 4 December` / `vendredi 4 décembre`."""
        return format_date(value, "EEEE d MMMM", locale=self.locale) if value else MISSING

    def weekday(self, value: dt.date) -> str:
        """`Monday` / `lundi`."""
        return format_date(value, "EEEE", locale=self.locale)

    def clock(self, value: dt.time | dt.datetime) -> str:
        """`08:30` in both languages (24-hour, as the rituals file writes times)."""
        return format_time(value, "HH:mm", locale=self.locale)

    # --- lists ---

    def join(self, items: Iterable[str]) -> str:
        """`a, b and c` / `a, b et c`."""
        return format_list(list(items), locale=self.locale)

    @property
    def first_weekday(self) -> int:
        """0 for Monday, as `date.weekday()` counts."""
        return self.locale.first_week_day


# CLDR's currency spacing, which Babel leaves out: a code made of letters never touches the digits.
_CODE_BEFORE_DIGIT = re.compile(r"(?<![^\W\d_])([A-Z]{3})(?=[\d-])")


def _space_currency_code(text: str) -> str:
    """`CHF3,000` → `CHF\u00a03,000` (a no-break space, so the two never wrap apart)."""
    return _CODE_BEFORE_DIGIT.sub("\\1\u00a0", text)


@cache
def translator(language: Language) -> Translator:
    """The shared translator of `language` (catalogs are read once per process)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}: Drumbeat speaks {', '.join(LANGUAGES)}")
    return Translator(language)


ENGLISH = translator("en")
"""For what no person reads: logs, stored outcomes, and callers with no reader yet."""


def language_of_locale(locale: str | None) -> Language | None:
    """`fr-FR`, `fr_CA`, `fr` → `fr`; `en-US` → `en`; anything else (or nothing) → None."""
    if not locale:
        return None
    code = locale.replace("_", "-").split("-", 1)[0].split(".", 1)[0].strip().lower()
    for language in LANGUAGES:
        if code == language:
            return language
    return None


def pick_language(*choices: str | None) -> Language:
    """The first of `choices` (languages or locales, most specific first) Drumbeat speaks, else English."""
    for choice in choices:
        language = language_of_locale(choice)
        if language is not None:
            return language
    return DEFAULT_LANGUAGE
