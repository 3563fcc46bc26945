"""CRM adapters behind one interface, `integrations.base.CRM`: HubSpot (`integrations.hubspot`) and
the built-in demo CRM (`integrations.demo`). They know no Slack, no ritual and no mirror table."""

from integrations.base import (
    CRM,
    CrmAuthError,
    CrmError,
    CrmNotFound,
    CrmRejected,
    CrmScopeMissing,
    CrmUnavailable,
)

__all__ = [
    "CRM",
    "CrmAuthError",
    "CrmError",
    "CrmNotFound",
    "CrmRejected",
    "CrmScopeMissing",
    "CrmUnavailable",
]
