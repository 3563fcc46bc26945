"""CRM adapters (HubSpot and the built-in demo CRM) behind one interface, `integrations.base.CRM`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings
from integrations.base import CRM


def create_crm(settings: Settings, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> CRM:
    """The adapter the settings ask for (`CRM`), built once per process."""
    if settings.crm == "demo":
        from integrations.demo import DemoCRM

        return DemoCRM(sessions, clock=clock)
    from integrations.hubspot import HubSpotCRM

    return HubSpotCRM(
        settings.require_hubspot_token(),
        base_url=settings.hubspot_api_url,
        requests_per_10s=settings.hubspot_requests_budget_per_10s,
    )
