"""Every table the migrations create: core's (the mirror, queues, rituals) and the demo CRM's own."""

from __future__ import annotations

from sqlalchemy import MetaData

from core.models import Base
from integrations.demo_store import DemoBase

METADATA: list[MetaData] = [Base.metadata, DemoBase.metadata]
