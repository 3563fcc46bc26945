"""Numbers, money and dates as each language writes them, and which language a reader gets."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest

from core.i18n import cli_language, language_of_locale, pick_language, translator

NNBSP, NBSP = "\u202f", "\u00a0"  # French groups thousands with a narrow no-break space
FRIDAY = date(2026, 12, 4)


def test_money_in_english_and_french() -> None:
    en, fr = translator("en"), translator("fr")
    assert en.money(Decimal(12500), "EUR") == "€12,500"
    assert fr.money(Decimal(12500), "EUR") == f"12{NNBSP}500{NBSP}€"
    assert en.money(Decimal("1200.5"), "EUR") == "€1,200.50"
    assert fr.money(Decimal("1200.5"), "eur") == f"1{NNBSP}200,50{NBSP}€"
    assert en.money(Decimal(-3000), "GBP") == "-£3,000"
    assert fr.money(Decimal(3000), "CHF") == f"3{NNBSP}000{NBSP}CHF"
    assert en.money(None, "EUR") == fr.money(None, "EUR") == "—"
    assert en.money(Decimal(950), None) == "950"


def test_short_money_for_headlines() -> None:
    assert translator("en").money_short(Decimal(1_200_000), "EUR") == "€1.2M"
    assert translator("fr").money_short(Decimal(1_200_000), "EUR") == f"1,2{NBSP}M{NBSP}€"
    assert translator("fr").money_short(Decimal(800), "EUR") == f"800{NBSP}€"


def test_percentages_round_half_up_with_the_language_spacing() -> None:
    assert translator("en").percent(0.125) == "13%"
    assert translator("fr").percent(0.125) == f"13{NBSP}%"
    assert translator("fr").percent(0.1234, digits=1) == f"12,3{NBSP}%"


def test_dates_in_english_and_french() -> None:
    en, fr = translator("en"), translator("fr")
    assert (en.date(FRIDAY), fr.date(FRIDAY)) == ("4 Dec 2026", "4 déc. 2026")
    assert (en.day(FRIDAY), fr.day(FRIDAY)) == ("Fri 4 Dec", "ven. 4 déc.")
    assert (en.long_day(FRIDAY), fr.long_day(FRIDAY)) == ("Friday 4 December", "vendredi 4 décembre")
    assert (en.day_month(FRIDAY), fr.day_month(FRIDAY)) == ("4 Dec", "4 déc.")
    assert en.date(None) == "—"
    assert fr.clock(time(8, 30)) == en.clock(time(8, 30)) == "08:30"
    assert en.first_weekday == fr.first_weekday == 0  # weeks start on Monday in both


def test_lists_and_plurals() -> None:
    assert translator("fr").join(["Alice", "Bob", "Chloé"]) == "Alice, Bob et Chloé"
    assert translator("en").n_("{n} deal", "{n} deals", 12500) == "12,500 deals"
    assert translator("en").n_("{n} deal", "{n} deals", 1) == "1 deal"


def test_a_placeholder_value_is_never_read_as_a_placeholder() -> None:
    assert translator("fr")._("{name}", name="{evil}") == "{evil}"


@pytest.mark.parametrize(
    ("locale", "language"),
    [
        ("fr-FR", "fr"),
        ("fr_CA", "fr"),
        ("FR", "fr"),
        ("en-US", "en"),
        ("de-DE", None),
        ("", None),
        (None, None),
    ],
)
def test_slack_locales(locale: str | None, language: str | None) -> None:
    assert language_of_locale(locale) == language


def test_the_most_specific_known_choice_wins() -> None:
    assert pick_language(None, "de-DE", "fr") == "fr"  # people: nothing, Slack: German, workspace: French
    assert pick_language("en", "fr-FR", "fr") == "en"
    assert pick_language(None, "es-ES", None) == "en"


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({"LANG": "fr_FR.UTF-8"}, "fr"),
        ({"LC_ALL": "C", "LANG": "fr_FR.UTF-8"}, "en"),  # LC_ALL wins, as for every POSIX program
        ({"LC_MESSAGES": "fr_BE.UTF-8", "LANG": "en_GB.UTF-8"}, "fr"),
        ({}, "en"),
    ],
)
def test_the_command_line_speaks_the_environment_language(environ: dict[str, str], language: str) -> None:
    assert cli_language(environ) == language


def test_an_unknown_language_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="Drumbeat speaks en, fr"):
        translator("de")  # type: ignore[arg-type]
