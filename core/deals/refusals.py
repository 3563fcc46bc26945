"""One wording per refusal: what a person reads when Drumbeat will not do what they asked, and why.

Every surface (`/deal`, buttons, modals, nudges) says the same thing for the same reason; a test of
one wording holds for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "DATE_NOT_AFTER_TODAY",
    "DEAL_GONE",
    "NOT_LINKED",
    "already_closed",
    "closed_stays",
    "not_yours",
    "nothing_to_change",
]

DEAL_GONE = "That deal is gone from the CRM: it may have been deleted."
"""The deal is not in the mirror (any more): deleted or archived in the CRM, or a stale button."""

NOT_LINKED = (
    "I couldn't match your Slack account to a CRM user (no CRM owner has your Slack email). "
    "Ask a Drumbeat admin to add you under `people:` in the rituals file."
)

DATE_NOT_AFTER_TODAY = "Pick a date after today."


def not_yours(owner_name: str) -> str:
    return (
        f"You can only update your own deals, and this one is {owner_name}'s. "
        f"Ask {owner_name}, their manager or a Drumbeat admin."
    )


def closed_stays(stage_label: str) -> str:
    """A closed deal's fields, changed by someone who may not reopen it."""
    return (
        f"This deal is closed ({stage_label}), so it stays as it is. "
        "Only your manager or a Drumbeat admin can reopen or change it."
    )


def already_closed(name: str, stage_label: str, *, then: str = "") -> str:
    """Marking lost or snoozing a deal that is closed; `then` says what is not done (`nothing to
    snooze`). The caller escapes `name` and `stage_label` where they go into mrkdwn."""
    return f"*{name}* is already closed ({stage_label}){': ' + then if then else ''}."


def nothing_to_change(name: str, unchanged: Sequence[tuple[str, str]]) -> str:
    """An update whose every value is the deal's already: (label, value shown) for each."""
    same = ", ".join(f"{label} is already {shown}" for label, shown in unchanged)
    return f"Nothing to change on *{name}*: {same}."
