"""Every message a person can read has its French, and no translation loses a placeholder."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir

from core.i18n import LANGUAGES
from core.i18n._catalog import read_catalog

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "rituals", "core", "integrations")
KEYWORDS = {"_": None, "N_": None, "n_": (1, 2)}
TRANSLATED = [language for language in LANGUAGES if language != "en"]


def _messages_in_code() -> dict[str | tuple[str, str], str]:
    """Each marked message → where it is first marked (file:line)."""
    found: dict[str | tuple[str, str], str] = {}
    for package in PACKAGES:
        for filename, line, message, _comments, _context in extract_from_dir(
            ROOT / package, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            found.setdefault(message, f"{package}/{filename}:{line}")
    return found


def _fields(text: str) -> set[str]:
    return {name for _literal, name, _spec, _conversion in string.Formatter().parse(text) if name is not None}


def _msgid(message: str | tuple[str, ...]) -> str:
    return message[0] if isinstance(message, tuple) else message


def _catalog(language: str) -> Catalog:
    catalog = read_catalog(language)
    assert catalog is not None, f"no catalog for {language}"
    return catalog


MESSAGES = _messages_in_code()


def test_the_code_marks_messages_for_translation() -> None:
    assert len(MESSAGES) > 0


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_has_a_translation(language: str) -> None:
    catalog = _catalog(language)
    missing = []
    for message, where in MESSAGES.items():
        msgid = _msgid(message)
        entry = catalog.get(msgid)
        if (
            entry is None
            or entry.fuzzy
            or not all(entry.string if isinstance(entry.string, tuple) else [entry.string])
        ):
            missing.append(f"{where}: {msgid!r}")
    assert not missing, (
        f"{len(missing)} of {len(MESSAGES)} messages have no {language} translation:\n" + "\n".join(missing)
    )


@pytest.mark.parametrize("language", TRANSLATED)
def test_no_translation_loses_or_invents_a_placeholder(language: str) -> None:
    wrong = []
    for entry in _catalog(language):
        if not entry.id or not entry.string:
            continue
        if isinstance(entry.id, tuple):
            expected = _fields(entry.id[0]) | _fields(entry.id[1])
            forms = list(entry.string)
            # A singular form may spell the count out ("une affaire") and drop {n}; nothing else.
            for form in forms:
                if not _fields(form) <= expected or not (expected - {"n"}) <= _fields(form):
                    wrong.append(f"{entry.id[1]!r} → {form!r}")
        else:
            try:
                fields = _fields(entry.string)
            except ValueError as error:
                wrong.append(f"{entry.id!r} → {entry.string!r} ({error})")
                continue
            if fields != _fields(entry.id):
                wrong.append(f"{entry.id!r} → {entry.string!r}")
    assert not wrong, "translations whose placeholders differ from the message's:\n" + "\n".join(wrong)


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_catalog_holds_no_message_the_code_no_longer_has(language: str) -> None:
    in_code = {_msgid(m) for m in MESSAGES}
    stale = [entry.id for entry in _catalog(language) if entry.id and _msgid(entry.id) not in in_code]
    assert not stale, f"translations of messages the code no longer has (run `make messages`): {stale}"
