"""The gettext catalogs: `locale/<language>/LC_MESSAGES/drumbeat.po`, read as they are in the repo.

Loading the `.po` source (compiled in memory, once per process) means the wheel carries one file per
language and no build step can leave a stale `.mo` behind.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from importlib import resources

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

DOMAIN = "drumbeat"


def catalog_path(language: str) -> resources.abc.Traversable:
    return resources.files("core.i18n") / "locale" / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalog(language: str) -> Catalog | None:
    """The language's catalog, or None for English: the messages are written in English."""
    path = catalog_path(language)
    if not path.is_file():
        return None
    with path.open("rb") as po:
        return read_po(po, locale=language, domain=DOMAIN)


@cache
def translations(language: str) -> gettext.NullTranslations:
    catalog = read_catalog(language)
    if catalog is None:
        return gettext.NullTranslations()
    compiled = io.BytesIO()
    write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)
