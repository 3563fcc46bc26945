"""A message whose reader is not known yet: found deep down (a rituals file check), shown up top (the CLI).

`Message(N_("unknown pipeline {name}"), name=…)` keeps the English text (the catalog's key) and its
values apart; `str(message)` is the English, `message.text(t)` the reader's language. A value that
is itself a `Message` is translated with it, so a problem and its hint read in one language; a list
of texts is joined as the language does (`a, b and c` / `a, b et c`).
"""

from __future__ import annotations

from collections.abc import Mapping

from core.i18n._translator import Translator, translator


class Message:
    __slots__ = ("params", "template")

    def __init__(self, template: str, /, **params: object) -> None:
        self.template = template
        self.params: Mapping[str, object] = params

    def text(self, t: Translator) -> str:
        return t._(self.template, **{name: _value(value, t) for name, value in self.params.items()})

    def __str__(self) -> str:
        return self.text(translator("en"))

    def __repr__(self) -> str:
        return f"Message({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


def _value(value: object, t: Translator) -> object:
    if isinstance(value, Message):
        return value.text(t)
    if isinstance(value, list):
        return t.join(str(_value(item, t)) for item in value)
    return value
