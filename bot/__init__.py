"""Wiring, the top layer: the CLI (`cli`), settings, the database engine and migrations (`db`), the
app factory (`slack_app`, `services`), the HTTP server (`web`, `server`, `replay_guard`), `drumbeat
status` and the demo's terminal output (`demo`). Nothing below imports it."""

__all__ = [
    "cli",
    "db",
    "demo",
    "logs",
    "replay_guard",
    "server",
    "services",
    "settings",
    "slack_app",
    "status",
    "web",
]
