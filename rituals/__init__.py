"""Ritual kinds, the rituals-file schema and scheduling."""
