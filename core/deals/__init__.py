"""The `/deal` slash command: its grammar and value parsers, pure (no Slack, CRM or database)."""
