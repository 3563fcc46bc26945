"""Leased queues in the database: CRM updates (the outbox), received `/deal` commands and DMs."""
