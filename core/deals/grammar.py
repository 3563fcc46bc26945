"""The `/deal` text grammar: turns what the person typed into a `Command`, never raising.

    (empty)                      -> ListMine
    help | aide | ? | -h | --help -> ShowHelp
    SEARCH [ITEM ...]            -> DealCommand (a lookup when there are no items)
    ITEM := KEY=VALUE | note "TEXT" | note TEXT TO THE END OF THE LINE

* SEARCH is every word before the first KEY=VALUE or `note`; quotes are removed and whitespace
  collapsed (`"acme corp"` and `acme corp` give the same search). Quote a name that is the word
  `note` or contains `=`.
* KEY ignores case and accents: `stage`, `amount`, `close`, `next`, `note` (`note=...` is the note
  too), their French twins `étape`, `montant`, `clôture`, `prochaine` (for everyone, whatever their
  language), or an alias from the config. Spaces around `=` are allowed (`stage = won`).
* VALUE is a word, or quoted with "...", '...', or Slack's smart quotes (U+201C/U+201D,
  U+2018/U+2019). A closing quote must end the word (be followed by a space, `=` or the end), so
  apostrophes inside quoted text (`note 'don't wait'`) are fine. No-break spaces do not end an
  unquoted value (`amount=€12 500` typed with a no-break space is one value); ordinary spaces do.
* An unquoted `note` takes the rest of the line verbatim, `key=value`s included, so put those first
  (`note = text` is the pair `note=text`).
* Slack's escaping (`&amp;`, `&lt;`, `&gt;`) is undone and link markup (`<https://x|label>`,
  `<mailto:a@b.c>`) becomes its label (or its address when there is none).

Problems and the help are written in the reader's language (`t`); the keys they show are theirs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from core.deals.fields import FIELD_BY_KEY, FIELDS, KEYS, TYPED_KEYS
from core.deals.values import control_character, fold
from core.i18n import ENGLISH, N_, Translator

__all__ = [
    "KEYS",
    "MAX_TEXT_LENGTH",
    "NOTE_KEY",
    "Command",
    "DealCommand",
    "ListMine",
    "ParseError",
    "ShowHelp",
    "format_help",
    "parse_command",
    "resolve_aliases",
]


NOTE_KEY = "note"
MAX_TEXT_LENGTH = 3000

_NO_ALIASES: Mapping[str, str] = MappingProxyType({})
_HELP_WORDS = frozenset({"help", "aide", "?", "-h", "--help"})
_DOUBLE_OPENERS = '"“”„'
_DOUBLE_CLOSERS = '"“”'
_SINGLE_OPENERS = "'\u2018"
_SINGLE_CLOSERS = "'\u2019\u2018"
_NO_BREAK_SPACES = "\u00a0\u202f\u2007"
_SLACK_MARKUP = re.compile(r"<([^<>]*)>")
_SLACK_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_EXAMPLE = N_('`{command} acme stage=won amount=12k next="Send MSA"`')
_NOTE_EXAMPLE = N_('note="Met the CFO"')


@dataclass(frozen=True, slots=True)
class ShowHelp:
    """`/deal help`: show the usage."""


@dataclass(frozen=True, slots=True)
class ListMine:
    """`/deal` alone: the person's own open deals."""


@dataclass(frozen=True, slots=True)
class DealCommand:
    """A search, optionally with changes and/or a note for the deal it finds.

    `query` is never empty. `changes` holds (canonical key, raw value) pairs in the order typed, at
    most one per key; the key is one of `KEYS` or an alias's target (a CRM property name).
    """

    query: str
    changes: tuple[tuple[str, str], ...] = ()
    note: str | None = None

    @property
    def is_search(self) -> bool:
        """True for a plain lookup: nothing to write."""
        return not self.changes and self.note is None


@dataclass(frozen=True, slots=True)
class ParseError:
    """What was wrong with the text, and what to type instead (Slack mrkdwn)."""

    message: str


Command = ShowHelp | ListMine | DealCommand | ParseError


def resolve_aliases(aliases: Mapping[str, str]) -> dict[str, str]:
    """The aliases that take effect: folded name (case and accents ignored) -> canonical key or CRM
    property name.

    Names that are blank, contain spaces or `=`, or shadow a built-in key (`stage`, ..., `note`, or
    a French one: `montant`) are ignored, as are blank targets. A target naming a built-in key
    (whatever the case, in either language) becomes that key.
    """
    builtins = {**TYPED_KEYS, NOTE_KEY: NOTE_KEY}
    resolved: dict[str, str] = {}
    for name, target in aliases.items():
        key = fold(name.strip())
        if not key or key in builtins or "=" in key or any(c.isspace() for c in key):
            continue
        clean_target = target.strip()
        if not clean_target:
            continue
        resolved[key] = builtins.get(fold(clean_target), clean_target)
    return resolved


def parse_command(
    text: str,
    *,
    aliases: Mapping[str, str] = _NO_ALIASES,
    command: str = "/deal",
    t: Translator = ENGLISH,
) -> Command:
    """Parse the text after the slash command. Never raises; problems come back as `ParseError`,
    written for a reader of `t`'s language.

    Text longer than `MAX_TEXT_LENGTH` characters (as Slack sent it) is refused.

    `command` is only used in the examples of error messages (the command name is configurable).
    """
    if len(text) > MAX_TEXT_LENGTH:
        return ParseError(
            t._(
                "That's {count} characters; `{command}` takes at most {limit}. "
                "Shorten the note, or log long notes in the CRM.",
                count=t.number(len(text)),
                command=command,
                limit=t.number(MAX_TEXT_LENGTH),
            )
        )
    control = control_character(text)
    if control is not None:  # refused before anything is stored or sent to the CRM
        return ParseError(
            t._(
                "That text has a control character ({character}) that can't be saved; "
                "remove it and send again. Nothing was changed.",
                character=control,
            )
        )
    cleaned = _unslack(text).strip()
    if not cleaned:
        return ListMine()
    if cleaned.casefold() in _HELP_WORDS:
        return ShowHelp()
    try:
        return _Parser(cleaned, _key_table(aliases), command, t).parse()
    except _Problem as problem:
        return ParseError(problem.message)


class _Problem(Exception):
    """Internal: aborts parsing with a message for `ParseError`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class _Word:
    text: str
    quoted: bool


def _unslack(text: str) -> str:
    """Undo Slack's escaping and link markup; `<@U1>`-style mentions without a label stay as typed."""
    return _SLACK_ENTITY.sub(lambda m: _ENTITIES[m.group(1)], _SLACK_MARKUP.sub(_markup_label, text))


def _markup_label(match: re.Match[str]) -> str:
    target, bar, label = match.group(1).partition("|")
    if bar and label.strip():
        return label
    if target[:1] in {"@", "#", "!"}:
        return match.group(0)
    return target.removeprefix("mailto:")


def _key_table(aliases: Mapping[str, str]) -> dict[str, str]:
    """Folded key as typed -> canonical key (or an alias's CRM property)."""
    table = {**TYPED_KEYS, NOTE_KEY: NOTE_KEY}
    table.update(resolve_aliases(aliases))
    return table


def _closers_for(opener: str) -> str:
    return _DOUBLE_CLOSERS if opener in _DOUBLE_OPENERS else _SINGLE_CLOSERS


def _is_opener(char: str) -> bool:
    return char in _DOUBLE_OPENERS or char in _SINGLE_OPENERS


def _shorten(text: str, limit: int = 30) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class _Parser:
    """Recursive descent over the cleaned text; one instance per call."""

    def __init__(self, text: str, keys: dict[str, str], command: str, t: Translator) -> None:
        self._text = text
        self._pos = 0
        self._keys = keys
        self._command = command
        self._t = t
        self._changes: list[tuple[str, str]] = []
        self._typed_keys: dict[str, str] = {}
        self._note: str | None = None
        self._last_item = ""

    # -- the grammar -----------------------------------------------------------------------------

    def parse(self) -> DealCommand:
        query = self._query()
        while self._skip_spaces():
            self._item()
        if not query:
            t = self._t
            if self._changes or self._note is not None:
                raise _Problem(t._("Say which deal first, e.g. {example}.", example=self._example()))
            raise _Problem(t._("Type part of a deal's name, e.g. `{command} acme`.", command=self._command))
        return DealCommand(query=query, changes=tuple(self._changes), note=self._note)

    def _query(self) -> str:
        words: list[str] = []
        while self._skip_spaces():
            start = self._pos
            word = self._word()
            if self._at_equals() or self._is_note_keyword(word):
                self._pos = start
                break
            words.append(word.text)
        return " ".join(" ".join(words).split())

    def _item(self) -> None:
        start = self._pos
        word = self._word()
        if self._at_equals():
            self._pos += 1
            self._pair(word)
        elif self._is_note_keyword(word):
            self._set_note(self._note_text())
        elif self._last_item:
            raise _Problem(
                self._t._(
                    "I didn't understand `{word}` after `{previous}`. After the deal's name, write "
                    '`key=value` pairs or `note "..."`, and quote values with spaces: `next="Send MSA"`.',
                    word=_shorten(word.text),
                    previous=self._last_item,
                )
            )
        else:
            raise _Problem(
                self._t._(
                    "I didn't understand `{word}`. After the deal's name, write "
                    '`key=value` pairs or `note "..."`, and quote values with spaces: `next="Send MSA"`.',
                    word=_shorten(word.text),
                )
            )
        self._last_item = _shorten(self._text[start : self._pos].strip())

    def _pair(self, word: _Word) -> None:
        t = self._t
        if word.quoted:
            raise _Problem(
                t._(
                    "A key can't be in quotes: write `{key}=value`, e.g. `stage=won`.",
                    key=_shorten(word.text),
                )
            )
        typed = fold(word.text)
        if not typed:
            raise _Problem(t._("`=` needs a key in front of it, e.g. {example}.", example=self._example()))
        key = self._keys.get(typed)
        if key is None:
            raise _Problem(self._unknown_key_message(word.text))
        value = self._value(word.text)
        if key == NOTE_KEY:
            self._set_note(value)
            return
        if key in self._typed_keys:
            first = self._typed_keys[key]
            shown = FIELD_BY_KEY[key].key_in(t.language) if key in FIELD_BY_KEY else key
            if fold(first) == typed:
                raise _Problem(t._("`{key}` is given twice — keep just one.", key=shown))
            raise _Problem(
                t._(
                    "`{key}` is given twice (as `{first}` and `{second}`) — keep just one.",
                    key=shown,
                    first=first,
                    second=word.text,
                )
            )
        self._typed_keys[key] = word.text
        self._changes.append((key, value))

    def _value(self, key: str) -> str:
        start = self._pos
        if not self._skip_spaces() or (self._pos > start and self._item_starts_here()):
            raise self._no_value(key)
        value = self._quoted() if _is_opener(self._text[self._pos]) else self._bare_value()
        value = value.strip()
        if not value:
            raise self._no_value(key)
        return value

    def _note_text(self) -> str:
        if not self._skip_spaces():
            raise _Problem(self._empty_note_message())
        if _is_opener(self._text[self._pos]):
            text = self._quoted().strip()
        else:
            text = self._text[self._pos :].strip()
            self._pos = len(self._text)
        if not text:
            raise _Problem(self._empty_note_message())
        return text

    def _set_note(self, text: str) -> None:
        if self._note is not None:
            raise _Problem(self._t._('There are two notes — write just one: `note "..."`.'))
        self._note = text

    # -- the lexer -------------------------------------------------------------------------------

    def _skip_spaces(self) -> bool:
        """Move past whitespace; False at the end of the text."""
        text = self._text
        while self._pos < len(text) and text[self._pos].isspace():
            self._pos += 1
        return self._pos < len(text)

    def _word(self) -> _Word:
        """A quoted string, or the characters up to whitespace or `=`."""
        if _is_opener(self._text[self._pos]):
            return _Word(self._quoted(), quoted=True)
        start = self._pos
        text = self._text
        while self._pos < len(text) and not text[self._pos].isspace() and text[self._pos] != "=":
            self._pos += 1
        return _Word(text[start : self._pos], quoted=False)

    def _bare_value(self) -> str:
        """Up to whitespace; `=` belongs to the value, and so does a no-break space inside it."""
        start = self._pos
        text = self._text
        while self._pos < len(text):
            char = text[self._pos]
            if char.isspace() and not (
                char in _NO_BREAK_SPACES and self._pos + 1 < len(text) and not text[self._pos + 1].isspace()
            ):
                break
            self._pos += 1
        return text[start : self._pos]

    def _quoted(self) -> str:
        """The text inside the quotes that start here; the closing quote must end the word."""
        text = self._text
        opener = text[self._pos]
        closers = _closers_for(opener)
        for end in range(self._pos + 1, len(text)):
            if text[end] in closers and (
                end + 1 == len(text) or text[end + 1].isspace() or text[end + 1] == "="
            ):
                inner = text[self._pos + 1 : end]
                self._pos = end + 1
                return inner
        raise _Problem(
            self._t._(
                'Unbalanced quotes: `{text}` has no closing quote. Close each quote, e.g. `next="Send MSA"`.',
                text=_shorten(text[self._pos :]),
            )
        )

    def _at_equals(self) -> bool:
        """Whether `=` follows (spaces allowed); stays just before it."""
        save = self._pos
        if self._skip_spaces() and self._text[self._pos] == "=":
            return True
        self._pos = save
        return False

    def _item_starts_here(self) -> bool:
        """Whether a `key=` or `note` starts here (used to spot `amount= stage=won`)."""
        if _is_opener(self._text[self._pos]):
            return False
        save = self._pos
        word = self._word()
        starts = self._at_equals() or self._is_note_keyword(word)
        self._pos = save
        return starts

    @staticmethod
    def _is_note_keyword(word: _Word) -> bool:
        return not word.quoted and fold(word.text) == NOTE_KEY

    # -- messages --------------------------------------------------------------------------------

    def _example(self) -> str:
        return self._t._(_EXAMPLE, command=self._command)

    def _no_value(self, typed: str) -> _Problem:
        canonical = self._keys.get(fold(typed), "")
        field = FIELD_BY_KEY.get(canonical)
        if field is not None:
            example = f"{field.key_in(self._t.language)}={field.example_in(self._t.language)}"
        elif canonical == NOTE_KEY:
            example = self._t._(_NOTE_EXAMPLE)
        else:
            example = f"{typed}=..."
        quoted = f"`{example}`"
        return _Problem(self._t._("`{key}=` needs a value, e.g. {example}.", key=typed, example=quoted))

    def _empty_note_message(self) -> str:
        return self._t._(
            'The note is empty — write it after `note`, e.g. `{command} acme note "Met the CFO"`.',
            command=self._command,
        )

    def _unknown_key_message(self, typed: str) -> str:
        t = self._t
        builtin = {*TYPED_KEYS, NOTE_KEY}
        aliases = sorted(k for k in self._keys if k not in builtin)
        valid = [*(f.key_in(t.language) for f in FIELDS), NOTE_KEY, *aliases]
        # A guess may be in either language: `amont` is `amount`, `etpae` is `étape`.
        spelled = {fold(k): k for k in (*valid, *KEYS, *(f.french_key for f in FIELDS))}
        guess = difflib.get_close_matches(fold(typed), list(spelled), n=1, cutoff=0.6)
        listed = ", ".join(f"`{k}`" for k in valid)
        if guess:
            return t._(
                "I don't know the key `{key}`. Did you mean `{guess}`? Keys: {keys}.",
                key=_shorten(typed),
                guess=spelled[guess[0]],
                keys=listed,
            )
        return t._("I don't know the key `{key}`. Keys: {keys}.", key=_shorten(typed), keys=listed)


def format_help(
    command_name: str = "/deal", aliases: Mapping[str, str] = _NO_ALIASES, *, t: Translator = ENGLISH
) -> str:
    """The usage text for `command_name help`, in Slack mrkdwn, with the config's aliases: the keys
    and examples of the reader's language, and a word that the other language's keys work too."""
    cmd = command_name
    language = t.language
    lines = [
        t._("*`{command}` — find and update your deals*", command=cmd),
        t._("• `{command}` — your open deals, most urgent first", command=cmd),
        t._("• `{command} acme` — find a deal by name", command=cmd),
        t._(
            "• `{command} acme stage=contract amount=12k close=2026-12-15"
            ' next="Send MSA"` — update in one line',
            command=cmd,
        ),
        t._('• `{command} acme note "Met the CFO, budget approved"` — log a note', command=cmd),
        t._('• `{command} "acme corp" stage=won` — quote names and values that have spaces', command=cmd),
        t._("*Keys*"),
        *(f"• `{field.key_in(language)}` — {t._(field.help)}" for field in FIELDS),
    ]
    other = [field.key if language == "fr" else field.french_key for field in FIELDS]
    lines.append(
        t._("• the keys in the other language work too: {keys}", keys=", ".join(f"`{k}`" for k in other))
    )
    extra = resolve_aliases(aliases)
    if extra:
        shown = ", ".join(f"`{name}` → `{_key_in(target, t)}`" for name, target in sorted(extra.items()))
        lines.append(t._("• also: {aliases}", aliases=shown))
    lines.append(t._("`{command} help` shows this again.", command=cmd))
    return "\n".join(lines)


def _key_in(key: str, t: Translator) -> str:
    """A canonical key as the reader types it (an alias's CRM property stays as it is)."""
    field = FIELD_BY_KEY.get(key)
    return field.key_in(t.language) if field is not None else key
