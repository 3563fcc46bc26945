"""The one table of the deal fields a person edits from Slack.

Each field has a name (the attribute on `DealView`, `Deal` and `DealUpdate`, and the key of an
outbox entry's `changes`), the `/deal` key (also the update modal's block id) and its French twin
(`montant=`, understood from everyone), a label, the CRM
property it is stored in (from `integrations.base.EDITABLE_PROPERTIES`, which the adapters map with),
a parser from what a person typed to the stored text, and a formatter for messages. The `/deal`
grammar, the update modal, the desk, the outbox's `DealUpdate` and the adapters all read it, so a
field added here is a field everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from core.deals.values import (
    PAST_MARK,
    StageOption,
    ValueProblem,
    fold,
    parse_amount,
    parse_close_field,
    resolve_stage,
)
from core.i18n import ENGLISH, N_, Language, Translator
from integrations.base import EDITABLE_PROPERTIES

__all__ = [
    "AMOUNT",
    "CLOSE",
    "FIELDS",
    "FIELD_BY_KEY",
    "FIELD_BY_NAME",
    "FRENCH_KEYS",
    "KEYS",
    "MAX_NEXT_STEP",
    "NEXT",
    "STAGE",
    "TYPED_KEYS",
    "EditableField",
    "ParseContext",
    "Stored",
    "modal_changes",
]

STAGE, AMOUNT, CLOSE, NEXT = "stage_id", "amount", "close_date", "next_step"
MAX_NEXT_STEP = 500


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What parsing needs besides the text: the person's today, the deal's stages (read on first
    use only, since only a stage change needs them), and their language (`12,5k`, `15/01`, messages)."""

    today: date
    stages: Callable[[], Sequence[StageOption]]
    t: Translator = ENGLISH


@dataclass(frozen=True, slots=True)
class EditableField:
    name: str
    """Attribute of `DealView`, `Deal` and `DealUpdate`; key in an outbox entry's `changes`."""
    key: str
    """The `/deal` key (`stage=`), and the update modal's block id."""
    french_key: str
    """The same key in French (`étape=`); both work for everyone, accents and case ignored."""
    label: str
    """A message to translate where it is shown: `t._(field.label)`."""
    help: str
    """What `/deal help` says the key takes (a message: `t._(field.help)`)."""
    example: str
    """A value for examples in messages: `stage=won`."""
    french_example: str
    """The same in French: `étape=gagnée`."""
    parse: Callable[[str, ParseContext], str]
    """What a person typed -> the stored text; raises `ValueProblem` saying what to type instead."""
    load: Callable[[str], Any]
    """Stored text -> the typed value a `DealUpdate` carries."""
    store: Callable[[Any], str | None]
    """The typed value (None when empty) -> stored text, as `parse` writes it."""
    show: Callable[[Any, str | None, Mapping[str, str], Translator], str]
    """The typed value for a message in its reader's language, given the deal's currency and stage
    labels by id."""
    check: Callable[[str, Translator], object] | None = None
    """The part of `parse` that needs no context, run where the value is typed (the modal's text
    inputs) so a problem shows on its own input; None for fields picked from a list."""

    @property
    def crm_property(self) -> str:
        return EDITABLE_PROPERTIES[self.name]

    def key_in(self, language: Language) -> str:
        """The key as `/deal help` and messages write it for a reader of `language`."""
        return self.french_key if language == "fr" else self.key

    def example_in(self, language: Language) -> str:
        return self.french_example if language == "fr" else self.example


def _check_next(raw: str, t: Translator) -> str:
    if len(raw) > MAX_NEXT_STEP:
        raise ValueProblem(
            t._(
                "The next step is too long ({count} characters; {limit} at most).",
                count=t.number(len(raw)),
                limit=t.number(MAX_NEXT_STEP),
            )
        )
    return raw.strip()


def _amount_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


FIELDS: tuple[EditableField, ...] = (
    EditableField(
        name=STAGE,
        key="stage",
        french_key="étape",
        label=N_("Stage"),
        help=N_("a stage name or id; a unique prefix is enough, and `won` / `lost` work too"),
        example="won",
        french_example="gagnée",
        parse=lambda raw, ctx: resolve_stage(raw, list(ctx.stages()), t=ctx.t).id,
        load=str,
        store=lambda value: value,
        show=lambda value, _currency, stages, _t: stages.get(value, value),
    ),
    EditableField(
        name=AMOUNT,
        key="amount",
        french_key="montant",
        label=N_("Amount"),
        help=N_("`12000`, `12k`, `1.2m`, `12,500`, `€12 500`"),
        example="12k",
        french_example="12,5k",
        parse=lambda raw, ctx: format(parse_amount(raw, t=ctx.t).normalize(), "f"),
        load=Decimal,
        store=_amount_text,
        show=lambda value, currency, _stages, t: t.money(value, currency),
        check=lambda raw, t: parse_amount(raw, t=t),
    ),
    EditableField(
        name=CLOSE,
        key="close",
        french_key="clôture",
        label=N_("Close date"),
        help=N_(
            "`2026-12-15`, `+10d`, `+2w`, `+1m`, `eom`, `eoq`, `eoy`, `friday`; "
            "a date in the past ends with `!` (`2025-03-01!`)"
        ),
        example="2026-12-15",
        french_example="fdm",
        parse=lambda raw, ctx: parse_close_field(raw, today=ctx.today, t=ctx.t).isoformat(),
        load=date.fromisoformat,
        store=lambda value: None if value is None else value.isoformat(),
        show=lambda value, _currency, _stages, t: t.date(value),
    ),
    EditableField(
        name=NEXT,
        key="next",
        french_key="prochaine",
        label=N_("Next step"),
        help=N_("the next step"),
        example='"Send MSA"',
        french_example='"Envoyer le contrat"',
        parse=lambda raw, ctx: _check_next(raw, ctx.t),
        load=str,
        store=lambda value: value,
        show=lambda value, _currency, _stages, _t: value or "—",
        check=_check_next,
    ),
)
FIELD_BY_NAME: dict[str, EditableField] = {f.name: f for f in FIELDS}
FIELD_BY_KEY: dict[str, EditableField] = {f.key: f for f in FIELDS}
KEYS: tuple[str, ...] = tuple(f.key for f in FIELDS)
"""The built-in `/deal` change keys, in the order help lists them."""
FRENCH_KEYS: tuple[str, ...] = tuple(f.french_key for f in FIELDS)
TYPED_KEYS: dict[str, str] = {fold(typed): f.key for f in FIELDS for typed in (f.key, f.french_key)}
"""What a person may type (folded: case and accents ignored, `etape` is `étape`) -> the key."""


class Stored(Protocol):
    """A deal as the modal compares with it (a `DealView`)."""

    def stored(self, field: str) -> str | None: ...


def modal_changes(
    deal: Stored, submitted: Mapping[str, str | None], *, t: Translator = ENGLISH
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The update modal's inputs (by block id, i.e. field key) as `/deal` changes, and the problems
    by block id, in the reader's language (`t`, which also reads their `12,5k`). An input left as it
    was prefilled is no change (a long next step is prefilled cut short, and must not be cut); an
    empty one is none either."""
    changes: list[tuple[str, str]] = []
    problems: dict[str, str] = {}
    for field in FIELDS:
        value = submitted.get(field.key)
        if not value or value == (deal.stored(field.name) or ""):
            continue
        if field.check is not None:
            try:
                field.check(value, t)
            except ValueProblem as problem:
                problems[field.key] = problem.message[:150]
                continue
        if field.name == CLOSE:
            value += PAST_MARK  # a date picked on the modal's calendar is meant, even in the past
        changes.append((field.key, value))
    return changes, problems
