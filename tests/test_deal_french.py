"""`/deal` in French: the keys, amounts, dates and stages as a French rep types them, what is asked
back rather than guessed, and the help and problems in the reader's language."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import TypeVar

import pytest
from hypothesis import given, settings, strategies as st

from core.deals.fields import FIELDS, modal_changes
from core.deals.grammar import DealCommand, ParseError, ShowHelp, format_help, parse_command, resolve_aliases
from core.deals.values import (
    MAX_AMOUNT,
    StageOption,
    ValueProblem,
    parse_amount,
    parse_close_date,
    parse_close_field,
    resolve_stage,
)
from core.i18n import Language, translator

T = TypeVar("T")
FR, EN = translator("fr"), translator("en")
NBSP, NNBSP = "\u00a0", "\u202f"
TODAY = date(2026, 12, 4)  # a Friday
FAST = settings(max_examples=150, deadline=None)


def attempt(call: Callable[[], T]) -> T | ValueProblem:
    """The value, or the problem it was refused with (anything else propagates)."""
    try:
        return call()
    except ValueProblem as refused:
        return refused


def problem(call: Callable[[], object]) -> str:
    with pytest.raises(ValueProblem) as caught:
        call()
    return caught.value.message


# -- keys -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "en"])
def test_french_and_english_keys_work_for_everyone_accents_and_case_ignored(language: Language) -> None:
    t = translator(language)
    command = parse_command(
        'acme montant=12,5k CLÔTURE=fdm Étape=négo prochaine="Envoyer le contrat" note Vu le DAF', t=t
    )
    assert command == DealCommand(
        query="acme",
        changes=(("amount", "12,5k"), ("close", "fdm"), ("stage", "négo"), ("next", "Envoyer le contrat")),
        note="Vu le DAF",
    )
    unaccented = parse_command("acme etape=won cloture=eom amount=1 next=x", t=t)
    assert isinstance(unaccented, DealCommand)
    assert [key for key, _ in unaccented.changes] == ["stage", "close", "amount", "next"]


@pytest.mark.parametrize("text", ["aide", "AIDE", " Aide ", "help"])
def test_aide_is_help(text: str) -> None:
    assert parse_command(text, t=FR) == ShowHelp()


def test_the_same_field_in_both_languages_is_given_twice() -> None:
    command = parse_command("acme montant=1 amount=2", t=FR)
    assert command == ParseError(
        "`montant` est donné deux fois (en `montant` et en `amount`) — n\u2019en garde qu\u2019un."
    )
    english = parse_command("acme montant=1 amount=2", t=EN)
    assert english == ParseError("`amount` is given twice (as `montant` and `amount`) — keep just one.")


def test_an_unknown_key_lists_the_readers_keys_and_guesses_in_either_language() -> None:
    assert parse_command("acme montnt=1", t=FR) == ParseError(
        f"Je ne connais pas la clé `montnt`. Tu voulais dire `montant`{NBSP}? "
        f"Clés{NBSP}: `étape`, `montant`, `clôture`, `prochaine`, `note`."
    )
    assert parse_command("acme amont=1", t=EN) == ParseError(
        "I don't know the key `amont`. Did you mean `amount`? "
        "Keys: `stage`, `amount`, `close`, `next`, `note`."
    )


def test_a_missing_value_shows_a_french_example() -> None:
    assert parse_command("acme clôture= étape=x", t=FR) == ParseError(
        "`clôture=` attend une valeur, par ex. `clôture=fdm`."
    )


def test_an_alias_may_not_shadow_a_french_key_and_may_target_one() -> None:
    assert resolve_aliases({"montant": "hs_amount", "fermeture": "Clôture", "ca": "amount"}) == {
        "fermeture": "close",
        "ca": "amount",
    }


# -- amounts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12 500", "12500"),
        ("12 500 €", "12500"),
        (f"12{NBSP}500{NBSP}€", "12500"),
        (f"12{NNBSP}500{NNBSP}€", "12500"),
        ("12,5k", "12500"),
        ("1,2M", "1200000"),
        ("12.5k", "12500"),
        ("12,5", "12.5"),
        ("12,50 €", "12.50"),
        ("1 234,56", "1234.56"),
        ("1.234,56", "1234.56"),
        ("1,234.56", "1234.56"),  # a point after the comma: the English way, one reading only
        ("1,234,567", "1234567"),  # two commas can only group thousands
        ("1.234.567", "1234567"),
        ("0,500", "0.5"),  # `0,500` cannot group thousands
        ("12,345", "12345"),  # 12.345 has three decimals: no amount reads so
        ("EUR 12 500", "12500"),
    ],
)
def test_french_amounts(raw: str, expected: str) -> None:
    assert parse_amount(raw, t=FR) == Decimal(expected)


@pytest.mark.parametrize(
    ("raw", "decimal", "grouped", "typed"),
    [
        ("12,500", "12,5", f"12{NNBSP}500", ("12,5", "12500")),
        ("12.500", "12,5", f"12{NNBSP}500", ("12,5", "12500")),
        ("12,500 €", "12,5", f"12{NNBSP}500", ("12,5", "12500")),
        ("1,234k", f"1{NNBSP}234", f"1{NNBSP}234{NNBSP}000", ("1234", "1234000")),
    ],
)
def test_a_french_amount_that_reads_two_ways_is_asked_back(
    raw: str, decimal: str, grouped: str, typed: tuple[str, str]
) -> None:
    assert problem(lambda: parse_amount(raw, t=FR)) == (
        f"`montant={raw}`, c\u2019est {decimal} ou {grouped}{NBSP}? Dans le doute, je n\u2019ai rien "
        f"changé{NBSP}: écris `montant={typed[0]}` ou `montant={typed[1]}`."
    )
    for suggestion in typed:  # what the answer says to type reads one way only
        parse_amount(suggestion, t=FR)


@pytest.mark.parametrize(("raw", "expected"), [("12,500", "12500"), ("12.500", "12.5"), ("12,5k", "12500")])
def test_english_keeps_the_comma_for_thousands(raw: str, expected: str) -> None:
    assert parse_amount(raw, t=EN) == Decimal(expected)


def test_french_amount_problems_are_in_french() -> None:
    assert problem(lambda: parse_amount("beaucoup", t=FR)) == (
        "`montant=beaucoup` n\u2019est pas un nombre — essaie `montant=12k` ou `montant=12500`."
    )
    assert problem(lambda: parse_amount("2000b", t=FR)) == (
        f"`montant=2000b` dépasse 1{NNBSP}000{NNBSP}000{NNBSP}000{NNBSP}000 — vérifie le nombre de zéros."
    )


AMOUNTS = st.decimals(min_value=0, max_value=MAX_AMOUNT, places=2, allow_nan=False, allow_infinity=False)


@FAST
@given(AMOUNTS, st.sampled_from(["EUR", "USD", None]))
def test_amounts_as_drumbeat_writes_them_in_french_parse_back(amount: Decimal, currency: str | None) -> None:
    written = FR.money(amount, currency).replace("$US", "USD")
    try:
        assert parse_amount(written, t=FR) == amount
    except ValueProblem as asked:  # `1,234` style only when Babel writes three decimals, never
        raise AssertionError(f"{written!r}: {asked.message}") from None


@FAST
@given(st.from_regex(r"[-+€ ]{0,2}[0-9][0-9 ,.'\u202f]{0,12}\s?(k|m|M|bn|EUR|€)?", fullmatch=True))
def test_french_amounts_never_raise_anything_but_a_problem(raw: str) -> None:
    value = attempt(lambda: parse_amount(raw, t=FR))
    if isinstance(value, ValueProblem):
        assert value.message.startswith("`montant=")
    else:
        assert 0 <= value <= MAX_AMOUNT


# -- dates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("fdm", date(2026, 12, 31)),
        ("FDT", date(2026, 12, 31)),
        ("fda", date(2026, 12, 31)),
        ("lundi", date(2026, 12, 7)),
        ("Vendredi", date(2026, 12, 11)),  # today is a Friday: the next one
        ("vendredi prochain", date(2026, 12, 11)),
        ("mer", date(2026, 12, 9)),
        ("+2s", date(2026, 12, 18)),
        ("+10j", date(2026, 12, 14)),
        ("3 semaines", date(2026, 12, 25)),
        ("+1mois", date(2027, 1, 4)),
        ("+1an", date(2027, 12, 4)),
        ("aujourd\u2019hui", TODAY),
        ("demain", date(2026, 12, 5)),
        ("15/01", date(2027, 1, 15)),  # the nearest 15 January: next month
        ("15/01/2027", date(2027, 1, 15)),
        ("15.01.27", date(2027, 1, 15)),
        ("25-12", date(2026, 12, 25)),
        ("2027-01-15", date(2027, 1, 15)),
        ("eom", date(2026, 12, 31)),
    ],
)
def test_french_close_dates(raw: str, expected: date) -> None:
    assert parse_close_date(raw, today=TODAY, t=FR) == expected


def test_a_day_without_a_year_is_the_nearest_so_yesterday_needs_a_bang() -> None:
    assert problem(lambda: parse_close_field("03/12", today=TODAY, t=FR)) == (
        f"`clôture=03/12` est dans le passé{NBSP}; si c\u2019est bien ça, écris `clôture=03/12!`."
    )
    assert parse_close_field("03/12!", today=TODAY, t=FR) == date(2026, 12, 3)


@pytest.mark.parametrize("raw", ["31/02", "01/15", "15/13/2027"])
def test_a_french_date_is_day_first(raw: str) -> None:
    assert problem(lambda: parse_close_date(raw, today=TODAY, t=FR)) == (
        f"`clôture={raw}` n\u2019est pas une vraie date — le jour d\u2019abord, puis le mois, "
        "par ex. `clôture=15/01/2027`."
    )


def test_french_words_work_in_english_but_slashes_stay_ambiguous_there() -> None:
    assert parse_close_date("fdm", today=TODAY, t=EN) == date(2026, 12, 31)
    assert parse_close_date("lundi", today=TODAY, t=EN) == date(2026, 12, 7)
    assert "could be read two ways" in problem(lambda: parse_close_date("15/01/2027", today=TODAY, t=EN))


def test_a_date_not_understood_is_explained_in_french() -> None:
    assert problem(lambda: parse_close_date("un jour", today=TODAY, t=FR)) == (
        "Je ne comprends pas la date `clôture=un jour` — essaie `clôture=15/01/2027`, `clôture=+2s`, "
        "`clôture=fdm`, `clôture=fdt` ou `clôture=vendredi`."
    )


@FAST
@given(
    st.from_regex(r"[+-]?\d{0,6}\s?[a-zé]{0,8}|\d{1,5}[-/.]\d{1,3}(?:[-/.]\d{1,5})?", fullmatch=True),
    st.dates(min_value=date(2001, 1, 1), max_value=date(2099, 1, 1)),
)
def test_french_dates_never_raise_anything_but_a_problem(raw: str, today: date) -> None:
    found = attempt(lambda: parse_close_field(raw, today=today, t=FR))
    assert isinstance(found, date) or "clôture=" in found.message


# -- stages -----------------------------------------------------------------------------------------

STAGES = [
    StageOption("rdv", "Rendez-vous", False, False),
    StageOption("nego", "Négociation", False, False),
    StageOption("devis", "Devis envoyé", False, False),
    StageOption("gagne", "Gagnée", True, True),
    StageOption("perdu", "Perdue", True, False),
]


@pytest.mark.parametrize(
    ("raw", "stage_id"),
    [
        ("négociation", "nego"),
        ("negociation", "nego"),
        ("NÉGO", "nego"),
        ("devis envoye", "devis"),
        ("gagnée", "gagne"),
        ("perdue", "perdu"),
        ("won", "gagne"),
        ("r", "rdv"),
    ],
)
def test_stages_match_as_hubspot_shows_them_accents_and_case_ignored(raw: str, stage_id: str) -> None:
    assert resolve_stage(raw, STAGES, t=FR).id == stage_id


def test_stage_problems_are_in_french() -> None:
    assert problem(lambda: resolve_stage("negociaton", STAGES, t=FR)) == (
        f"Aucune étape ne correspond à `étape=negociaton`. Tu voulais dire Négociation{NBSP}? "
        f"Étapes{NBSP}: Rendez-vous, Négociation, Devis envoyé, Gagnée, Perdue."
    )
    staged = [*STAGES, StageOption("neg2", "Négo finale", False, False)]
    assert problem(lambda: resolve_stage("nég", staged, t=FR)) == (
        "`étape=nég` correspond à Négociation, Négo finale — tape quelques lettres de plus."
    )


# -- the modal --------------------------------------------------------------------------------------


class _Deal:
    def stored(self, field: str) -> str | None:
        return None


def test_the_modal_reads_a_french_amount_and_asks_back_an_ambiguous_one() -> None:
    assert modal_changes(_Deal(), {"amount": "12,5k"}, t=FR) == ([("amount", "12,5k")], {})
    changes, problems = modal_changes(_Deal(), {"amount": "12,500"}, t=FR)
    assert changes == []
    assert problems["amount"].startswith(f"`montant=12,500`, c\u2019est 12,5 ou 12{NNBSP}500{NBSP}?")


# -- help -------------------------------------------------------------------------------------------


def test_the_french_help_shows_the_french_keys_and_examples() -> None:
    text = format_help("/deal", {"ca": "amount"}, t=FR)
    assert text.splitlines()[0] == "*`/deal` — retrouve et mets à jour tes affaires*"
    for field in FIELDS:
        assert f"• `{field.french_key}` — " in text
    assert (
        '• `/deal acme étape=contrat montant=12,5k clôture=fdm prochaine="Envoyer le contrat"` '
        "— mise à jour en une ligne"
    ) in text
    assert f"• les clés en anglais marchent aussi{NBSP}: `stage`, `amount`, `close`, `next`" in text
    assert f"• et aussi{NBSP}: `ca` → `montant`" in text
    assert text.splitlines()[-1] == "`/deal aide` réaffiche ce message."
    assert "`amount`" not in text.replace("`stage`, `amount`", "")


def test_every_example_in_the_french_help_parses_in_french() -> None:
    examples = re.findall(r"`/deal ([^`]*)`", format_help(t=FR))
    assert len(examples) >= 4
    for example in examples:
        command = parse_command(example, t=FR)
        assert isinstance(command, DealCommand | ShowHelp), (example, command)
    update = parse_command(next(e for e in examples if "montant=" in e), t=FR)
    assert isinstance(update, DealCommand)
    values = dict(update.changes)
    assert parse_amount(values["amount"], t=FR) == Decimal(12500)
    assert parse_close_date(values["close"], today=TODAY, t=FR) == date(2026, 12, 31)


def test_parse_problems_are_in_the_readers_language() -> None:
    assert parse_command('acme prochaine="Envoyer', t=FR) == ParseError(
        f'Guillemets non fermés{NBSP}: `"Envoyer` n\u2019a pas de guillemet fermant. '
        'Ferme chaque guillemet, par ex. `prochaine="Envoyer le contrat"`.'
    )
    assert parse_command("montant=12k", t=FR) == ParseError(
        "Dis d\u2019abord de quelle affaire il s\u2019agit, par ex. "
        '`/deal acme étape=gagnée montant=12,5k prochaine="Envoyer le contrat"`.'
    )
