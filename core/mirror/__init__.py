"""The local mirror of the CRM: the sync that writes it, its change history, and read models."""

__all__ = ["history", "summary", "sync"]
