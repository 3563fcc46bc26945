"""Every table the migrations create: core's (the mirror, queues, rituals), the demo CRM's own,
and the shared window of CRM calls."""

from __future__ import annotations

from sqlalchemy import MetaData

from core.models import Base
from integrations.demo_store import DemoBase
from integrations.shared_window import PacingBase

METADATA: list[MetaData] = [Base.metadata, DemoBase.metadata, PacingBase.metadata]
