"""The local mirror of the CRM: the sync that writes it, its change history, and read models."""
