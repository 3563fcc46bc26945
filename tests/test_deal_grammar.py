"""The `/deal` grammar: every form of the contract, Slack's quirks, friendly errors, and never a crash."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from core.deals import grammar
from core.deals.grammar import (
    KEYS,
    MAX_TEXT_LENGTH,
    Command,
    DealCommand,
    ListMine,
    ParseError,
    ShowHelp,
    parse_command,
    resolve_aliases,
)
from core.deals.values import control_character

ALIASES = {"close_date": "close", "champion": "champion_name", "Region": "hs_region"}
FAST = settings(max_examples=200, deadline=None)


def deal(text: str) -> DealCommand:
    command = parse_command(text, aliases=ALIASES)
    assert isinstance(command, DealCommand), command
    return command


def error(text: str) -> str:
    command = parse_command(text, aliases=ALIASES)
    assert isinstance(command, ParseError), command
    assert command.message.strip()
    return command.message


# -- the forms of the contract ----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\t\n", "\u00a0"])
def test_blank_text_lists_my_deals(text: str) -> None:
    assert parse_command(text) == ListMine()


@pytest.mark.parametrize("text", ["help", " HELP ", "Help", "?", "--help", "-h"])
def test_help(text: str) -> None:
    assert parse_command(text) == ShowHelp()


def test_a_name_is_a_search() -> None:
    command = deal("acme")
    assert command == DealCommand(query="acme")
    assert command.is_search


@pytest.mark.parametrize(
    "text",
    [
        "acme corp stage=won",
        '"acme corp" stage=won',
        "'acme corp' stage=won",
        "“acme corp” stage=won",
        "\u2018acme corp\u2019 stage=won",
        "  acme   corp  stage=won ",
        '" acme  corp " stage=won',
        "acme corp STAGE=won",
        "acme corp stage = won",
        "acme corp stage= won",
        "acme corp stage =won",
    ],
)
def test_the_words_before_the_first_key_are_the_search(text: str) -> None:
    command = deal(text)
    assert command.query == "acme corp"
    assert command.changes == (("stage", "won"),)
    assert not command.is_search


def test_the_one_line_update_of_the_contract() -> None:
    command = deal('acme stage=contract amount=12k close=2026-12-15 next="Send MSA"')
    assert command == DealCommand(
        query="acme",
        changes=(("stage", "contract"), ("amount", "12k"), ("close", "2026-12-15"), ("next", "Send MSA")),
    )


@pytest.mark.parametrize(
    "text",
    [
        "acme next=“Send MSA”",
        "acme next=\u2018Send MSA\u2019",
        "acme next='Send MSA'",
        "acme next=”Send MSA”",
        'acme next=" Send MSA "',
        'acme Next="Send MSA"',
    ],
)
def test_values_may_be_quoted_in_any_of_the_quotes_slack_sends(text: str) -> None:
    assert deal(text).changes == (("next", "Send MSA"),)


def test_changes_keep_the_order_given() -> None:
    command = deal("acme next=call amount=5k stage=won close=eom")
    assert [key for key, _ in command.changes] == ["next", "amount", "stage", "close"]


def test_a_quoted_note() -> None:
    command = deal('acme note "Met the CFO, budget approved"')
    assert command == DealCommand(query="acme", note="Met the CFO, budget approved")
    assert not command.is_search


def test_an_unquoted_note_takes_the_rest_of_the_line_verbatim() -> None:
    assert deal("acme stage=won note met the CFO, budget = approved").note == "met the CFO, budget = approved"
    assert deal('acme NOTE he said "yes').note == 'he said "yes'


def test_notes_and_changes_in_any_order() -> None:
    command = deal('acme note "Met the CFO" stage=won amount=12k')
    assert command == DealCommand(
        query="acme", changes=(("stage", "won"), ("amount", "12k")), note="Met the CFO"
    )
    assert deal('acme stage=won note="Met the CFO"').note == "Met the CFO"


def test_apostrophes_inside_quoted_text() -> None:
    assert deal("acme note 'don't wait'").note == "don't wait"
    assert deal("acme note \u2018don\u2019t wait\u2019").note == "don\u2019t wait"
    assert deal("o'brien & co stage=won").query == "o'brien & co"


def test_a_quoted_name_may_be_a_keyword_or_contain_equals() -> None:
    assert deal('"note" stage=won').query == "note"
    assert deal('"a=b" stage=won').query == "a=b"
    assert deal("acme next=a=b").changes == (("next", "a=b"),)


def test_aliases_map_to_canonical_keys_or_crm_properties() -> None:
    command = deal("acme close_date=eom CHAMPION=Bob region=EMEA")
    assert command.changes == (("close", "eom"), ("champion_name", "Bob"), ("hs_region", "EMEA"))


def test_aliases_cannot_shadow_built_in_keys() -> None:
    assert resolve_aliases({"stage": "dealstage", "note": "x", " ": "y", "a b": "c", "ok": " Close "}) == {
        "ok": "close"
    }
    command = parse_command("acme stage=won", aliases={"stage": "dealstage"})
    assert command == DealCommand(query="acme", changes=(("stage", "won"),))


# -- Slack's escaping and markup -----------------------------------------------------------------------


def test_slack_escaping_is_undone() -> None:
    command = deal("AT&amp;T next=&lt;call&gt;")
    assert command == DealCommand(query="AT&T", changes=(("next", "<call>"),))


def test_an_escaped_entity_is_undone_once() -> None:
    assert deal("acme next=&amp;lt;").changes == (("next", "&lt;"),)


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("<mailto:a@b.c|a@b.c> stage=won", "a@b.c"),
        ("<mailto:a@b.c> stage=won", "a@b.c"),
        ("<https://acme.com|acme.com> stage=won", "acme.com"),
        ("<https://acme.com> stage=won", "https://acme.com"),
        ("<#C123|general> stage=won", "general"),
        ("<@U123> stage=won", "<@U123>"),
    ],
)
def test_slack_link_markup_becomes_its_label(text: str, query: str) -> None:
    assert deal(text).query == query


def test_a_no_break_space_does_not_end_a_value() -> None:
    assert deal("acme amount=€12\u00a0500 stage=won").changes == (
        ("amount", "€12\u00a0500"),
        ("stage", "won"),
    )
    assert deal("acme amount=12k\u00a0 stage=won").changes == (("amount", "12k"), ("stage", "won"))
    assert deal("acme\u00a0corp stage=won").query == "acme corp"


# -- friendly errors ----------------------------------------------------------------------------------


def test_an_update_needs_a_deal() -> None:
    assert "which deal" in error("stage=won")
    assert "which deal" in error('note "hi"')
    assert "deal's name" in error('""')


def test_unknown_keys_list_the_valid_ones_and_guess() -> None:
    message = error("acme stge=won")
    assert "`stge`" in message
    assert "Did you mean `stage`?" in message
    for key in (*KEYS, "note", "close_date", "champion", "region"):
        assert f"`{key}`" in message
    assert "Did you mean" not in error("acme zzzzzz=1")


def test_duplicate_keys_are_refused_even_through_aliases() -> None:
    assert "`stage` is given twice" in error("acme stage=won Stage=lost")
    assert "close_date" in error("acme close=eom close_date=eoq")
    assert "two notes" in error('acme note="a" note "b"')


@pytest.mark.parametrize(
    "text", ["acme amount=", "acme amount= stage=won", 'acme amount=""', "acme amount= note x"]
)
def test_an_empty_value_is_refused(text: str) -> None:
    assert "`amount=` needs a value" in error(text)


@pytest.mark.parametrize(
    "text", ['acme next="Send MSA', "acme next=“Send MSA", '"acme corp stage=won', 'acme note "hi']
)
def test_unbalanced_quotes_are_named(text: str) -> None:
    assert "Unbalanced quotes" in error(text)


@pytest.mark.parametrize("text", ["acme note", 'acme note ""', "acme note “  ”", "acme note=''"])
def test_an_empty_note_is_refused(text: str) -> None:
    message = error(text)
    assert "empty" in message or "needs a value" in message


def test_stray_words_after_the_first_key_are_named() -> None:
    message = error("acme stage=won corp")
    assert "`corp`" in message
    assert "`stage=won`" in message
    assert 'next="Send MSA"' in message
    assert "`MSA`" in error("acme next=Send MSA")


def test_keys_cannot_be_quoted_or_missing() -> None:
    assert "can't be in quotes" in error('acme "stage"=won')
    assert "needs a key" in error("acme stage=won =x")
    assert "needs a key" in error("=won")
    assert "key `acme`" in error("acme =won")  # spaces around `=` are allowed, so `acme` is the key


def test_overlong_text_is_refused() -> None:
    assert "3,000" in error("a" * (MAX_TEXT_LENGTH + 1))
    assert deal("a" * MAX_TEXT_LENGTH).query == "a" * MAX_TEXT_LENGTH


def test_examples_in_messages_use_the_configured_command_name() -> None:
    command = parse_command("stage=won", command="/crm")
    assert isinstance(command, ParseError)
    assert "`/crm acme" in command.message


# -- purity ---------------------------------------------------------------------------------------------


# The field table is checked below too; what it imports besides is plain data and formatting, and
# the reader's language (messages and number formats, no Slack).
ALLOWED_IMPORTS = {
    "__future__",
    "core.deals.grammar",
    "core.deals.fields",
    "core.deals.values",
    "core.i18n",
    "integrations.base",
    "zoneinfo",
}


@pytest.mark.parametrize("module", ["grammar", "values", "fields"])
def test_the_modules_are_pure(module: str) -> None:
    tree = ast.parse((Path(grammar.__file__).parent / f"{module}.py").read_text(encoding="utf-8"))
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    for name in imported:
        assert name in ALLOWED_IMPORTS or name.split(".")[0] in sys.stdlib_module_names, name


# -- properties -------------------------------------------------------------------------------------


def check(command: Command) -> None:
    assert isinstance(command, ShowHelp | ListMine | DealCommand | ParseError)
    if isinstance(command, DealCommand):
        assert command.query
        assert command.query == " ".join(command.query.split())
        assert len({key for key, _ in command.changes}) == len(command.changes)
        assert all(value and value == value.strip() for _, value in command.changes)
        assert command.note is None or (command.note and command.note == command.note.strip())
    if isinstance(command, ParseError):
        assert command.message.strip()


@FAST
@given(st.text(max_size=200))
def test_any_text_parses_to_a_command(text: str) -> None:
    check(parse_command(text, aliases=ALIASES))


TOKENS = st.sampled_from(
    [
        "acme",
        "corp",
        "note",
        "NOTE",
        "help",
        "stage",
        "=",
        "==",
        "stage=",
        "amount=12k",
        "close=eom",
        "next=",
        'next="Send MSA"',
        "next=“Send",
        "MSA”",
        '"',
        "'",
        "“",
        "”",
        "\u2018",
        "\u2019",
        "don't",
        '""',
        "&amp;",
        "&lt;",
        "<https://x|y>",
        "<mailto:a@b.c>",
        "<",
        ">",
        "|",
        "champion=x",
        "close_date=1",
        "\u00a0",
        "\u202f",
        "\t",
    ]
)


@FAST
@given(
    st.lists(st.one_of(TOKENS, st.text(max_size=5)), max_size=14), st.lists(st.sampled_from(["", " ", "  "]))
)
def test_grammar_shaped_text_parses_to_a_command(tokens: list[str], gaps: list[str]) -> None:
    pieces = [token + (gaps[i] if i < len(gaps) else " ") for i, token in enumerate(tokens)]
    check(parse_command("".join(pieces), aliases=ALIASES))


def slack_escaped(text: str) -> str:
    """What Slack sends for what the person typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True)
class Typed:
    text: str
    expected: DealCommand


OPENERS = "\"“”„'\u2018"
QUOTES = [('"', '"'), ("“", "”"), ("'", "'"), ("\u2018", "\u2019")]
WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzACME0123456789.&-_", min_size=1, max_size=8).filter(
    lambda w: w.casefold() not in {"note", "help"}
)
VALUE = (
    st.text(alphabet="abcdefXYZ 0123456789.,:;!?-+/€$@#", min_size=1, max_size=20).map(str.strip).filter(bool)
)
BARE_VALUE = st.text(alphabet="abcXYZ0123456789.,+-€", min_size=1, max_size=10)
ALL_KEYS = [*KEYS, "close_date", "champion"]


@st.composite
def typed_commands(draw: st.DrawFn) -> Typed:
    words = draw(st.lists(WORD, min_size=1, max_size=4))
    query = " ".join(words)
    rendered_query = query if draw(st.booleans()) else '"' + query + '"'
    keys = draw(st.lists(st.sampled_from(ALL_KEYS), unique_by=lambda k: resolve_aliases(ALIASES).get(k, k)))
    items: list[str] = []
    changes: list[tuple[str, str]] = []
    for key in keys:
        typed_key = key.upper() if draw(st.booleans()) else key
        equals = draw(st.sampled_from(["=", " = ", "= ", " ="]))
        if draw(st.booleans()):
            value = draw(BARE_VALUE)
            rendered = value if equals.endswith("=") else '"' + value + '"'
        else:
            value = draw(VALUE)
            opener, closer = draw(st.sampled_from(QUOTES))
            rendered = opener + value + closer
        items.append(f"{typed_key}{equals}{rendered}")
        changes.append((resolve_aliases(ALIASES).get(key, key), value))
    note: str | None = None
    note_style = draw(st.sampled_from(["none", "quoted", "rest"]))
    if note_style == "quoted":
        note = draw(VALUE)
        opener, closer = draw(st.sampled_from(QUOTES))
        items.insert(draw(st.integers(0, len(items))), f"note {opener}{note}{closer}")
    elif note_style == "rest":
        note = draw(
            st.text(min_size=1, max_size=30)
            .map(str.strip)
            .filter(lambda t: t and t[0] not in OPENERS + "=" and control_character(t) is None)
        )
        items.append(f"note {note}")
    text = " ".join([rendered_query, *items])
    return Typed(text, DealCommand(query=query, changes=tuple(changes), note=note))


@FAST
@given(typed_commands())
def test_what_the_grammar_describes_parses_back(typed: Typed) -> None:
    command = parse_command(slack_escaped(typed.text), aliases=ALIASES)
    assert command == typed.expected, typed.text


@pytest.mark.parametrize(
    "text", ['acme note "call\x00back"', "acme\x00 amount=5k", "acme stage=won\x1b", 'acme note "\ud800"']
)
def test_control_characters_are_refused_with_a_clear_message(text: str) -> None:
    parsed = parse_command(text)
    assert isinstance(parsed, ParseError)
    assert "control character" in parsed.message and "Nothing was changed" in parsed.message


def test_tabs_and_line_breaks_are_kept_in_a_note() -> None:
    parsed = parse_command('acme note "line one\n\tline two"')
    assert isinstance(parsed, DealCommand) and parsed.note == "line one\n\tline two"
