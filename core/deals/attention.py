"""The one "needs attention" rule: what about an open deal wants its owner's look.

A deal needs attention when it is stale (the one rule, `core.deals.staleness`), past its close
date, or missing a field a deal should have. App Home, the mirror's per-owner summary, the hygiene
and stale_deals rituals and the deal lists all read it from here, in the same words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from core.deals.desk import DealView
from core.i18n import N_, Translator

__all__ = ["MISSING_CHECKS", "Attention", "needs_attention", "untouched"]

MISSING_CHECKS: dict[str, tuple[str, Callable[[DealView], bool]]] = {
    "amount": (N_("no amount"), lambda d: d.amount is None),
    "closedate": (N_("no close date"), lambda d: d.close_date is None),
    "hs_next_step": (N_("no next step"), lambda d: not d.next_step),
    "hubspot_owner_id": (N_("no owner"), lambda d: d.owner_id is None),
}
"""The mirrored deal properties a deal should have (CRM names, as a hygiene `missing` rule names
them): how its absence reads (a message to translate), and whether a deal lacks it."""

# What App Home counts as missing on every open deal (the hygiene ritual's rules say their own).
_ALWAYS_WANTED = ("amount", "hs_next_step")


def untouched(days: int | None, *, t: Translator) -> str:
    """How a stale deal's quiet reads, everywhere."""
    if days is None:
        return t._("never touched")
    return t.n_("untouched for {n} day", "untouched for {n} days", days)


@dataclass(frozen=True, slots=True)
class Attention:
    past_close: bool
    stale: bool
    days_untouched: int | None
    missing: tuple[str, ...]
    """The CRM properties from `MISSING_CHECKS` that the deal lacks, of those always wanted."""

    @property
    def needed(self) -> bool:
        return self.past_close or self.stale or bool(self.missing)

    def reasons(self, *, t: Translator) -> list[str]:
        """Why, in the order App Home lists them."""
        found = []
        if self.past_close:
            found.append(t._("close date has passed"))
        if self.stale:
            found.append(untouched(self.days_untouched, t=t))
        found.extend(t._(MISSING_CHECKS[prop][0]) for prop in self.missing)
        return found


def needs_attention(deal: DealView, *, now: datetime, today: date, stale_after_days: int) -> Attention:
    """What about `deal` needs a look; `today` is the owner's date (close dates and snoozes)."""
    return Attention(
        past_close=deal.is_past_close(today),
        stale=deal.is_stale(now, stale_after_days, today=today),
        days_untouched=deal.days_untouched(now),
        missing=tuple(prop for prop in _ALWAYS_WANTED if MISSING_CHECKS[prop][1](deal)),
    )
