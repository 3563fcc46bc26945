"""`/deal` values: amounts, close dates, stages and the help text; only `ValueProblem` ever escapes."""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import TypeVar

import pytest
from hypothesis import assume, given, settings, strategies as st

from core.deals.grammar import DealCommand, format_help, parse_command
from core.deals.values import (
    MAX_AMOUNT,
    StageOption,
    ValueProblem,
    control_character,
    parse_amount,
    parse_close_date,
    parse_close_field,
    resolve_stage,
)

T = TypeVar("T")
FAST = settings(max_examples=150, deadline=None)
TODAY = date(2026, 1, 31)  # a Saturday, at a month's end


def attempt(call: Callable[[], T]) -> T | ValueProblem:
    """The value, or the problem it was refused with (anything else propagates)."""
    try:
        return call()
    except ValueProblem as refused:
        return refused


def problem(call: object, *args: object, **kwargs: object) -> str:
    assert callable(call)
    with pytest.raises(ValueProblem) as caught:
        call(*args, **kwargs)
    assert caught.value.message.strip()
    assert str(caught.value) == caught.value.message
    return caught.value.message


# -- amounts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12000", "12000"),
        ("12k", "12000"),
        ("12K", "12000"),
        ("1.2m", "1200000"),
        ("1.2M", "1200000"),
        ("2bn", "2000000000"),
        ("12,500", "12500"),
        ("€12 500", "12500"),
        ("€12\u00a0500", "12500"),
        ("€12\u202f500", "12500"),
        ("12.5k", "12500"),
        ("$12,500.50", "12500.50"),
        ("12 500 €", "12500"),
        ("EUR 12500", "12500"),
        ("eur12500", "12500"),
        ("12500 usd", "12500"),
        ("1,234,567.89", "1234567.89"),
        ("1'234'567", "1234567"),
        ("12,5k", "12500"),
        ("12,50", "12.50"),
        ("+12k", "12000"),
        (" 12 k ", "12000"),
        ("0", "0"),
        (".5k", "500"),
        ("1.2345k", "1234.5"),
        ("12.500", "12.5"),
        ("1000000000000", "1000000000000"),
    ],
)
def test_amounts(raw: str, expected: str) -> None:
    value = parse_amount(raw)
    assert value == Decimal(expected)
    assert "E" not in str(value)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("lots", "`amount=lots` isn't a number — try `amount=12k` or `amount=12500`"),
        ("12kk", "isn't a number"),
        ("1.2.3", "isn't a number"),
        ("NaN", "isn't a number"),
        ("inf", "isn't a number"),
        ("Infinity", "isn't a number"),
        ("1e5", "isn't a number"),
        ("€12 EUR", "isn't a number"),
        ("XYZ 12", "isn't a number"),
        ("12.", "isn't a number"),
        ("", "needs a number"),
        ("-5", "negative"),
        ("\u22125k", "negative"),
        ("€-5", "negative"),
        ("12.345", "more than two decimals"),
        ("1.234567k", "more than two decimals"),
        ("1,23,456", "odd digit grouping"),
        ("1 2", "odd digit grouping"),
        ("1,234 567", "odd digit grouping"),
        ("1000000000000.01", "more than 1,000,000,000,000"),
        ("2000b", "more than 1,000,000,000,000"),
        ("9" * 40, "more than 1,000,000,000,000"),
        ("9" * 80, "isn't a number"),
    ],
)
def test_amounts_refused(raw: str, says: str) -> None:
    assert says in problem(parse_amount, raw)


AMOUNTS = st.decimals(min_value=0, max_value=MAX_AMOUNT, places=2, allow_nan=False, allow_infinity=False)


@FAST
@given(
    AMOUNTS,
    st.sampled_from(["{}", "{:,}", "€{:,}", "{:,} EUR", "$ {:,}"]),
    st.sampled_from([",", " ", "\u202f"]),
)
def test_formatted_amounts_parse_back(amount: Decimal, pattern: str, grouping: str) -> None:
    text = pattern.format(amount).replace(",", grouping)
    assert parse_amount(text) == amount


@FAST
@given(AMOUNTS)
def test_amounts_in_thousands_parse_back(amount: Decimal) -> None:
    in_thousands = amount.scaleb(-3)
    assert parse_amount(f"{in_thousands:f}k") == amount


@FAST
@given(
    st.text(max_size=40)
    | st.from_regex(r"[-+€$ ]{0,2}[0-9][0-9 ,.']{0,12}\s?(k|m|bn|kk|EUR)?", fullmatch=True)
)
def test_amounts_never_raise_anything_but_a_problem(raw: str) -> None:
    value = attempt(lambda: parse_amount(raw))
    if isinstance(value, ValueProblem):
        assert value.message.strip()
    else:
        assert 0 <= value <= MAX_AMOUNT
        assert value == value.quantize(Decimal("0.01"))
        assert "E" not in str(value)


# -- close dates --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-12-15", date(2026, 12, 15)),
        ("2026/12/15", date(2026, 12, 15)),
        ("2026-3-5", date(2026, 3, 5)),
        ("2025-06-01", date(2025, 6, 1)),  # in the past: the caller decides whether to warn
        ("+10d", date(2026, 2, 10)),
        ("+2w", date(2026, 2, 14)),
        ("2 weeks", date(2026, 2, 14)),
        ("+1m", date(2026, 2, 28)),  # clamped to the month's end
        ("+13m", date(2027, 2, 28)),
        ("+1y", date(2027, 1, 31)),
        ("+0d", TODAY),
        ("today", TODAY),
        ("Tomorrow", date(2026, 2, 1)),
        ("eom", date(2026, 1, 31)),
        ("EOQ", date(2026, 3, 31)),
        ("eoy", date(2026, 12, 31)),
        ("monday", date(2026, 2, 2)),
        ("Fri", date(2026, 2, 6)),
        ("next friday", date(2026, 2, 6)),
        ("saturday", date(2026, 2, 7)),  # today is a Saturday: the next one
        ("thurs", date(2026, 2, 5)),
    ],
)
def test_close_dates(raw: str, expected: date) -> None:
    assert parse_close_date(raw, today=TODAY) == expected


def test_leap_years_and_quarters() -> None:
    assert parse_close_date("+1m", today=date(2028, 1, 31)) == date(2028, 2, 29)
    assert parse_close_date("eom", today=date(2028, 2, 3)) == date(2028, 2, 29)
    assert parse_close_date("eoq", today=date(2026, 11, 3)) == date(2026, 12, 31)
    assert parse_close_date("eoq", today=date(2026, 4, 1)) == date(2026, 6, 30)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("31/02", "could be read two ways"),
        ("12/15/2026", "could be read two ways"),
        ("2026-02-31", "isn't a real date"),
        ("2026-13-01", "isn't a real date"),
        ("0000-01-01", "isn't a real date"),
        ("someday", "isn't a date I understand — try `close=2026-12-15`"),
        ("+3x", "isn't a date I understand"),
        ("", "needs a date"),
        ("+11y", "more than ten years ahead"),
        ("+99999d", "more than ten years ahead"),
    ],
)
def test_close_dates_refused(raw: str, says: str) -> None:
    assert says in problem(parse_close_date, raw, today=TODAY)


def test_the_edges_of_the_calendar_are_a_problem_not_a_crash() -> None:
    assert "out of the calendar's range" in problem(parse_close_date, "tomorrow", today=date.max)
    assert "out of the calendar's range" in problem(parse_close_date, "+1m", today=date.max)


# Today's dates for which ten years ahead stays within 2000-2100.
SAFE_TODAY = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 1, 1))
IN_RANGE = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))


@FAST
@given(IN_RANGE, st.dates())
def test_iso_dates_parse_back(day: date, today: date) -> None:
    assert parse_close_date(day.isoformat(), today=today) == day


@FAST
@given(st.dates().filter(lambda d: not 2000 <= d.year <= 2100), st.dates())
def test_close_dates_outside_2000_to_2100_are_refused(day: date, today: date) -> None:
    assert "is not between 2000 and 2100" in problem(parse_close_date, day.isoformat(), today=today)


@pytest.mark.parametrize("typed", ["0001-01-01", "9999-12-31", "0026-01-15", "1999-12-31", "2101-01-01"])
def test_typo_years_never_reach_the_crm(typed: str) -> None:
    assert "check the year" in problem(parse_close_date, typed, today=date(2026, 1, 10))


def test_a_past_close_date_needs_a_trailing_bang() -> None:
    today = date(2026, 1, 10)
    message = problem(parse_close_field, "2025-03-01", today=today)
    assert "is in the past" in message and "`close=2025-03-01!`" in message
    assert parse_close_field("2025-03-01!", today=today) == date(2025, 3, 1)
    assert parse_close_field("2026-01-10", today=today) == today  # today is not the past
    assert parse_close_field("+2w", today=today) == date(2026, 1, 24)
    assert "check the year" in problem(parse_close_field, "1999-01-01!", today=today)


@pytest.mark.parametrize("text", ["a\x00b", "\x1b[31m", "ok\x7f", "x\ud800"])
def test_control_characters_are_found(text: str) -> None:
    assert control_character(text) is not None
    assert control_character("tabs\tand\nlines\r\n are fine, é ✓") is None


@FAST
@given(
    st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 1, 1)),
    st.sampled_from(list(calendar.day_name)),
    st.booleans(),
)
def test_a_weekday_is_its_next_occurrence_after_today(today: date, name: str, short: bool) -> None:
    day = parse_close_date(name[:3] if short else name, today=today)
    assert 1 <= (day - today).days <= 7
    assert calendar.day_name[day.weekday()] == name


@FAST
@given(SAFE_TODAY, st.integers(0, 120))
def test_months_ahead_keep_the_day_or_clamp_to_the_month_end(today: date, months: int) -> None:
    day = parse_close_date(f"+{months}m", today=today)
    assert (day.year * 12 + day.month) - (today.year * 12 + today.month) == months
    assert day.day == min(today.day, calendar.monthrange(day.year, day.month)[1])


@FAST
@given(SAFE_TODAY, st.integers(0, 500))
def test_days_and_weeks_ahead(today: date, count: int) -> None:
    assert parse_close_date(f"+{count}d", today=today) == today + timedelta(days=count)
    assert parse_close_date(f"+{count}w", today=today) == today + timedelta(weeks=count)


@FAST
@given(SAFE_TODAY)
def test_period_ends(today: date) -> None:
    eom, eoq, eoy = (parse_close_date(raw, today=today) for raw in ("eom", "eoq", "eoy"))
    assert (eom.year, eom.month) == (today.year, today.month)
    assert eom.day == calendar.monthrange(eom.year, eom.month)[1]
    assert eoq.year == today.year
    assert eoq.month % 3 == 0
    assert 0 <= eoq.month - today.month <= 2
    assert eoy == date(today.year, 12, 31)
    assert today <= eom <= eoq <= eoy


@FAST
@given(
    st.text(max_size=20)
    | st.from_regex(r"[+-]?\d{0,6}\s?[a-z]{0,6}|\d{1,5}[-/.]\d{1,3}[-/.]\d{1,5}", fullmatch=True),
    st.dates(),
)
def test_close_dates_never_raise_anything_but_a_problem(raw: str, today: date) -> None:
    day = attempt(lambda: parse_close_date(raw, today=today))
    assert isinstance(day, date) or day.message.strip()


# -- stages ------------------------------------------------------------------------------------------

STAGES = [
    StageOption("appointmentscheduled", "Appointment scheduled", is_closed=False, is_won=False),
    StageOption("qualifiedtobuy", "Qualified to buy", is_closed=False, is_won=False),
    StageOption("contractsent", "Contract sent", is_closed=False, is_won=False),
    StageOption("closedwon", "Closed won", is_closed=True, is_won=True),
    StageOption("closedlost", "Closed lost", is_closed=True, is_won=False),
]


@pytest.mark.parametrize(
    ("raw", "stage_id"),
    [
        ("contractsent", "contractsent"),
        ("Contract sent", "contractsent"),
        ("contract-sent", "contractsent"),
        ("  CONTRACT_SENT. ", "contractsent"),
        ("contract", "contractsent"),
        ("qual", "qualifiedtobuy"),
        ("a", "appointmentscheduled"),
        ("won", "closedwon"),
        ("Lost", "closedlost"),
        ("closed won", "closedwon"),
        ("closedl", "closedlost"),
    ],
)
def test_stages(raw: str, stage_id: str) -> None:
    assert resolve_stage(raw, STAGES).id == stage_id


def test_an_exact_match_wins_over_a_longer_prefix() -> None:
    stages = [StageOption("demo", "Demo", False, False), StageOption("demodone", "Demo done", False, False)]
    assert resolve_stage("demo", stages).id == "demo"
    assert resolve_stage("demo d", stages).id == "demodone"


def test_won_and_lost_need_a_single_closed_stage() -> None:
    two_won = [*STAGES, StageOption("wonrenewal", "Won (renewal)", is_closed=True, is_won=True)]
    assert "matches Closed won, Won (renewal) — type more letters" in problem(resolve_stage, "won", two_won)
    open_only = STAGES[:3]
    assert "No stage matches `stage=won`" in problem(resolve_stage, "won", open_only)


def test_an_ambiguous_stage_lists_the_candidates() -> None:
    assert problem(resolve_stage, "c", STAGES) == (
        "`stage=c` matches Contract sent, Closed won, Closed lost — type more letters."
    )


def test_an_unknown_stage_lists_the_stages_and_guesses() -> None:
    message = problem(resolve_stage, "closed wn", STAGES)
    assert "Did you mean Closed won?" in message
    assert "Appointment scheduled, Qualified to buy, Contract sent, Closed won, Closed lost" in message
    assert "Did you mean" not in problem(resolve_stage, "zzz", STAGES)


def test_empty_input_or_no_stages() -> None:
    assert "needs a stage" in problem(resolve_stage, " - ", STAGES)
    assert "no stages" in problem(resolve_stage, "won", [])


def test_the_same_stage_twice_is_not_ambiguous() -> None:
    assert resolve_stage("won", [*STAGES, STAGES[3]]) is STAGES[3]


STAGE_OPTIONS = st.builds(
    StageOption,
    id=st.text(max_size=12),
    label=st.text(max_size=12),
    is_closed=st.booleans(),
    is_won=st.booleans(),
)


@FAST
@given(st.text(max_size=15), st.lists(STAGE_OPTIONS, max_size=6))
def test_stages_never_raise_anything_but_a_problem(raw: str, stages: list[StageOption]) -> None:
    stage = attempt(lambda: resolve_stage(raw, stages))
    if isinstance(stage, ValueProblem):
        assert stage.message.strip()
    else:
        assert stage in stages


@FAST
@given(st.lists(STAGE_OPTIONS, min_size=1, max_size=6, unique_by=lambda s: s.id), st.data())
def test_a_stage_named_exactly_is_found(stages: list[StageOption], data: st.DataObject) -> None:
    def compact(text: str) -> str:
        # Accents are ignored (`negociation` is `Négociation`): letters compared without their marks.
        return "".join(c for c in unicodedata.normalize("NFD", text.casefold()) if c.isalnum())

    chosen = data.draw(st.sampled_from(stages))
    names = [compact(name) for stage in stages if stage.id != chosen.id for name in (stage.id, stage.label)]
    assume(compact(chosen.label) and compact(chosen.label) not in names)
    assert resolve_stage(chosen.label.upper(), stages) == chosen


# -- help ---------------------------------------------------------------------------------------------


def test_help_shows_the_command_name_keys_and_aliases() -> None:
    text = format_help("/crm", {"close_date": "close", "champion": "champion_name", "stage": "ignored"})
    assert "`/crm acme`" in text
    assert "/deal" not in text
    for key in ("stage", "amount", "close", "next"):
        assert f"`{key}`" in text
    assert "`champion` → `champion_name`" in text
    assert "`close_date` → `close`" in text
    assert "ignored" not in text
    assert len(text) < 1500


def test_every_example_in_the_help_parses() -> None:
    examples = re.findall(r"`/deal ([^`]*)`", format_help())
    assert len(examples) >= 4
    for example in examples:
        command = parse_command(example)
        assert not hasattr(command, "message"), (example, command)
    update = parse_command('acme stage=contract amount=12k close=2026-12-15 next="Send MSA"')
    assert isinstance(update, DealCommand)
    stage, amount, close = (value for _, value in update.changes[:3])
    assert resolve_stage(stage, STAGES).id == "contractsent"
    assert parse_amount(amount) == Decimal(12000)
    assert parse_close_date(close, today=TODAY) == date(2026, 12, 15)
