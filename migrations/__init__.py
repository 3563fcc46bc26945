"""Alembic migrations: the only way Drumbeat's schema is created or changed."""

__all__ = ["schema"]
