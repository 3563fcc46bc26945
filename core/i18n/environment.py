"""The command line's language, from the environment as POSIX programs read it."""

from __future__ import annotations

import os
from collections.abc import Mapping

from core.i18n._translator import Language, pick_language


def cli_language(environ: Mapping[str, str] | None = None) -> Language:
    """`LC_ALL`, then `LC_MESSAGES`, then `LANG` (the first set decides, as in gettext); else English."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "").strip()
        if value:
            return pick_language(value)
    return pick_language(None)
