"""Wiring, the top layer: the CLI (`cli`, with `init`, `manifest` and `workspace` for setting up),
settings, the database engine and migrations (`db`), the app factory (`slack_app`, `services`), the
HTTP server (`web`, `server`, `replay_guard`, `slack_shapes`, `hubspot_webhooks`), `drumbeat status`
and the demo's terminal output (`demo`). Nothing below imports it."""

__all__ = [
    "cli",
    "db",
    "demo",
    "hubspot_webhooks",
    "init",
    "logs",
    "manifest",
    "replay_guard",
    "server",
    "services",
    "settings",
    "slack_app",
    "slack_shapes",
    "status",
    "web",
    "workspace",
]
