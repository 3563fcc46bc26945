"""Deals: the `/deal` grammar and values, the editable-field table, permissions and refusals, the
one staleness and "needs attention" rules, review-week streaks, snoozes, and the desk that reads
the mirror and stores accepted changes in the outbox.

The grammar, values and field table are pure (no Slack, CRM call or database); the desk, snoozes,
staleness and streaks read and write the database. Import from the submodules: the package itself
imports none of them, since the outbox reads the field table and the desk writes to the outbox.
"""

__all__ = [
    "attention",
    "commands",
    "desk",
    "fields",
    "grammar",
    "nudge_answers",
    "pending",
    "permissions",
    "refusals",
    "snooze",
    "staleness",
    "streaks",
    "values",
]
