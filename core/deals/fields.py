"""The one table of the deal fields a person edits from Slack.

Each field has a name (the attribute on `DealView`, `Deal` and `DealUpdate`, and the key of an
outbox entry's `changes`), the `/deal` key (also the update modal's block id), a label, the CRM
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
    parse_amount,
    parse_close_field,
    resolve_stage,
)
from core.i18n import N_, Translator
from integrations.base import EDITABLE_PROPERTIES

__all__ = [
    "AMOUNT",
    "CLOSE",
    "FIELDS",
    "FIELD_BY_KEY",
    "FIELD_BY_NAME",
    "KEYS",
    "MAX_NEXT_STEP",
    "NEXT",
    "STAGE",
    "EditableField",
    "ParseContext",
    "Stored",
    "modal_changes",
]

STAGE, AMOUNT, CLOSE, NEXT = "stage_id", "amount", "close_date", "next_step"
MAX_NEXT_STEP = 500


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What parsing needs besides the text: the person's today, and the deal's stages (read on
    first use only, since only a stage change needs them)."""

    today: date
    stages: Callable[[], Sequence[StageOption]]


@dataclass(frozen=True, slots=True)
class EditableField:
    name: str
    """Attribute of `DealView`, `Deal` and `DealUpdate`; key in an outbox entry's `changes`."""
    key: str
    """The `/deal` key (`stage=`), and the update modal's block id."""
    label: str
    """A message to translate where it is shown: `t._(field.label)`."""
    help: str
    """What `/deal help` says the key takes."""
    example: str
    """A value for examples in messages: `stage=won`."""
    parse: Callable[[str, ParseContext], str]
    """What a person typed -> the stored text; raises `ValueProblem` saying what to type instead."""
    load: Callable[[str], Any]
    """Stored text -> the typed value a `DealUpdate` carries."""
    store: Callable[[Any], str | None]
    """The typed value (None when empty) -> stored text, as `parse` writes it."""
    show: Callable[[Any, str | None, Mapping[str, str], Translator], str]
    """The typed value for a message in its reader's language, given the deal's currency and stage
    labels by id."""
    check: Callable[[str], object] | None = None
    """The part of `parse` that needs no context, run where the value is typed (the modal's text
    inputs) so a problem shows on its own input; None for fields picked from a list."""

    @property
    def crm_property(self) -> str:
        return EDITABLE_PROPERTIES[self.name]


def _check_next(raw: str) -> str:
    if len(raw) > MAX_NEXT_STEP:
        raise ValueProblem(f"The next step is too long ({len(raw)} characters; {MAX_NEXT_STEP} at most).")
    return raw.strip()


def _amount_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


FIELDS: tuple[EditableField, ...] = (
    EditableField(
        name=STAGE,
        key="stage",
        label=N_("Stage"),
        help="a stage name or id; a unique prefix is enough, and `won` / `lost` work too",
        example="won",
        parse=lambda raw, ctx: resolve_stage(raw, list(ctx.stages())).id,
        load=str,
        store=lambda value: value,
        show=lambda value, _currency, stages, _t: stages.get(value, value),
    ),
    EditableField(
        name=AMOUNT,
        key="amount",
        label=N_("Amount"),
        help="`12000`, `12k`, `1.2m`, `12,500`, `€12 500`",
        example="12k",
        parse=lambda raw, _ctx: format(parse_amount(raw).normalize(), "f"),
        load=Decimal,
        store=_amount_text,
        show=lambda value, currency, _stages, t: t.money(value, currency),
        check=parse_amount,
    ),
    EditableField(
        name=CLOSE,
        key="close",
        label=N_("Close date"),
        help=(
            "`2026-12-15`, `+10d`, `+2w`, `+1m`, `eom`, `eoq`, `eoy`, `friday`; "
            "a date in the past ends with `!` (`2025-03-01!`)"
        ),
        example="2026-12-15",
        parse=lambda raw, ctx: parse_close_field(raw, today=ctx.today).isoformat(),
        load=date.fromisoformat,
        store=lambda value: None if value is None else value.isoformat(),
        show=lambda value, _currency, _stages, t: t.date(value),
    ),
    EditableField(
        name=NEXT,
        key="next",
        label=N_("Next step"),
        help="the next step",
        example='"Send MSA"',
        parse=lambda raw, _ctx: _check_next(raw),
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


class Stored(Protocol):
    """A deal as the modal compares with it (a `DealView`)."""

    def stored(self, field: str) -> str | None: ...


def modal_changes(
    deal: Stored, submitted: Mapping[str, str | None]
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The update modal's inputs (by block id, i.e. field key) as `/deal` changes, and the problems
    by block id. An input left as it was prefilled is no change (a long next step is prefilled cut
    short, and must not be cut); an empty one is none either."""
    changes: list[tuple[str, str]] = []
    problems: dict[str, str] = {}
    for field in FIELDS:
        value = submitted.get(field.key)
        if not value or value == (deal.stored(field.name) or ""):
            continue
        if field.check is not None:
            try:
                field.check(value)
            except ValueProblem as problem:
                problems[field.key] = problem.message[:150]
                continue
        if field.name == CLOSE:
            value += PAST_MARK  # a date picked on the modal's calendar is meant, even in the past
        changes.append((field.key, value))
    return changes, problems
