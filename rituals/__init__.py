"""Ritual kinds, the rituals-file schema and scheduling: `config` (the schema, `file:line: key:`
errors), `check` (check-config), `scheduler` and `firing` (once per slot), `engine` (runs a firing),
the kinds (`kinds`, `digest`, `prep`, `adoption`, `manager_rituals`, `alerts`) and `charts`. Rituals
find and decide; `handlers` renders what they say."""

__all__ = [
    "adoption",
    "alerts",
    "charts",
    "check",
    "config",
    "digest",
    "engine",
    "firing",
    "kinds",
    "manager_rituals",
    "posts",
    "prep",
    "quiet",
    "reload",
    "scheduler",
    "starter",
]
