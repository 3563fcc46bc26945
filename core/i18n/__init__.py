"""Languages: which one a reader gets, their messages (gettext catalogs) and their numbers and dates (Babel).

Messages are written in English in the code, marked with `t._("…")`, `t.n_("…", "…", n)` or, where a
message is defined away from where it is shown, `N_("…")`; `locale/fr/LC_MESSAGES/drumbeat.po` holds
their French. `make messages` re-extracts them; `tests/test_catalogs.py` fails on any message
without a translation or whose translation loses a placeholder.
"""

from core.i18n._translator import (
    DEFAULT_LANGUAGE,
    ENGLISH,
    LANGUAGES,
    MISSING,
    N_,
    Language,
    Translator,
    language_of_locale,
    pick_language,
    translator,
)
from core.i18n.environment import cli_language

__all__ = [
    "DEFAULT_LANGUAGE",
    "ENGLISH",
    "LANGUAGES",
    "MISSING",
    "N_",
    "Language",
    "Translator",
    "cli_language",
    "language_of_locale",
    "pick_language",
    "translator",
]
