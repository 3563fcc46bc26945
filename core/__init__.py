"""The domain: deals and the `/deal` grammar, permissions, staleness, people, the CRM mirror and its
history, and the leased queues. It knows no Slack listener and no CLI; `integrations` is below it."""

__all__ = ["clock", "deals", "mirror", "models", "people", "queues", "sql"]
