"""One wording per refusal: what a person reads when Drumbeat will not do what they asked, and why.

Every surface (`/deal`, buttons, modals, nudges) says the same thing for the same reason; a test of
one wording holds for all of them. Each is written in the reader's language (`t`).
"""

from __future__ import annotations

from collections.abc import Sequence

from core.i18n import N_, Translator

__all__ = [
    "DATE_NOT_AFTER_TODAY",
    "DEAL_GONE",
    "NOT_LINKED",
    "already_closed",
    "closed_stays",
    "not_yours",
    "nothing_to_change",
]

DEAL_GONE = N_("That deal is gone from the CRM: it may have been deleted.")
"""The deal is not in the mirror (any more): deleted or archived in the CRM, or a stale button."""

NOT_LINKED = N_(
    "I couldn't match your Slack account to a CRM user (no CRM owner has your Slack email). "
    "Ask a Drumbeat admin to add you under `people:` in the rituals file."
)

DATE_NOT_AFTER_TODAY = N_("Pick a date after today.")


def not_yours(owner_name: str, *, t: Translator) -> str:
    return t._(
        "You can only update your own deals, and this one is {owner}'s. "
        "Ask {owner}, their manager or a Drumbeat admin.",
        owner=owner_name,
    )


def closed_stays(stage_label: str, *, t: Translator) -> str:
    """A closed deal's fields, changed by someone who may not reopen it."""
    return t._(
        "This deal is closed ({stage}), so it stays as it is. "
        "Only your manager or a Drumbeat admin can reopen or change it.",
        stage=stage_label,
    )


def already_closed(name: str, stage_label: str, *, t: Translator, snoozing: bool = False) -> str:
    """Marking lost or snoozing (`snoozing`) a deal that is closed. The caller escapes `name` and
    `stage_label` where they go into mrkdwn."""
    if snoozing:
        return t._("*{deal}* is already closed ({stage}): nothing to snooze.", deal=name, stage=stage_label)
    return t._("*{deal}* is already closed ({stage}).", deal=name, stage=stage_label)


def nothing_to_change(name: str, unchanged: Sequence[tuple[str, str]], *, t: Translator) -> str:
    """An update whose every value is the deal's already: (label, value shown) for each."""
    same = t.join(t._("{field} is already {value}", field=label, value=shown) for label, shown in unchanged)
    return t._("Nothing to change on *{deal}*: {unchanged}.", deal=name, unchanged=same)
