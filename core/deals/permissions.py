"""Who may change which deal: the owner; the owner's manager; admins. A refusal says why."""

from __future__ import annotations

from dataclasses import dataclass

from core.deals.refusals import NOT_LINKED, closed_stays, not_yours
from core.people import Actor

__all__ = ["NOT_LINKED", "DealFacts", "refusal"]


@dataclass(frozen=True, slots=True)
class DealFacts:
    """What permissions need to know about a deal."""

    owner_id: str | None
    owner_name: str
    is_closed: bool
    stage_label: str


def refusal(actor: Actor, deal: DealFacts, *, changes_fields: bool) -> str | None:
    """None when `actor` may make this change; otherwise the reason, written for them (in their language)."""
    if actor.is_admin:
        return None
    is_owner = actor.owner_id is not None and deal.owner_id == actor.owner_id
    is_manager = deal.owner_id is not None and deal.owner_id in actor.report_owner_ids
    if not actor.is_linked and not is_manager:
        return actor.t._(NOT_LINKED)
    if not (is_owner or is_manager):
        return not_yours(deal.owner_name, t=actor.t)
    if deal.is_closed and changes_fields and not is_manager:
        return closed_stays(deal.stage_label, t=actor.t)
    return None
