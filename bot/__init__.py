"""Drumbeat's wiring: settings, database, CLI and the Slack/HTTP app factory."""
