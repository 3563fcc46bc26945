"""`drumbeat init` underneath: read the CRM portal and the Slack workspace, then compose the starter
rituals file (`rituals.starter`). The CLI asks the questions; this module reads and decides."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from slack_sdk import WebClient

from bot.status import crm_scopes_problem
from bot.workspace import (
    WHERE_TO_ADD_SLACK_SCOPES,
    find_admin,
    list_channels,
    match_owners,
    missing_slack_scopes,
)
from integrations.base import CRM
from rituals.starter import (
    ChannelChoice,
    ChannelPurpose,
    SlackChannel,
    Starter,
    choose_timezone,
    fitting_channels,
    starter_yaml,
)

__all__ = ["ChannelChooser", "InitResult", "build_starter", "take_default"]

ChannelChooser = Callable[[ChannelPurpose, Sequence[SlackChannel], SlackChannel | None], SlackChannel | None]
"""Given a purpose, the channels that exist and the default pick, the channel to use (None: none)."""


@dataclass
class InitResult:
    starter: Starter
    text: str
    channels_listed: int | None
    warnings: list[str] = field(default_factory=list)


def take_default(
    purpose: ChannelPurpose, channels: Sequence[SlackChannel], default: SlackChannel | None
) -> SlackChannel | None:
    """`--yes`: the first fitting channel."""
    return default


def slack_scope_warnings(missing: Sequence[str]) -> list[str]:
    if not missing:
        return []
    return [f"the Slack bot token lacks scope {', '.join(missing)}: {WHERE_TO_ADD_SLACK_SCOPES}"]


def crm_permission_warnings(crm: CRM) -> list[str]:
    missing = crm.missing_scopes()
    return [crm_scopes_problem(missing)] if missing else []


def build_starter(
    crm: CRM,
    client: WebClient,
    *,
    crm_label: str,
    admin_email: str | None,
    choose: ChannelChooser,
    today: date,
) -> InitResult:
    """Raises CrmError when the portal cannot be read, SlackUnavailable when Slack cannot."""
    # Permissions first, by name: what is missing explains what below is left out.
    slack_missing = missing_slack_scopes(client)
    warnings = [*slack_scope_warnings(slack_missing), *crm_permission_warnings(crm)]
    pipelines = crm.fetch_pipelines()
    owners = [o for o in crm.fetch_owners() if not o.archived]
    people = match_owners(client, owners)
    admin = find_admin(client, admin_email)
    channels = list_channels(client, private="groups:read" not in slack_missing)
    if channels is None:
        warnings.append(
            "channels were not listed (the Slack token lacks channels:read): the example's channel "
            "names are used; create them or change them"
        )

    def pick(purpose: ChannelPurpose) -> ChannelChoice:
        fitting = fitting_channels(channels or [], purpose)
        if channels is None:
            return ChannelChoice(purpose, None)
        return ChannelChoice(purpose, choose(purpose, channels, fitting[0] if fitting else None))

    zone, why = choose_timezone(people, admin)
    starter = Starter(
        crm_label=crm_label,
        pipelines=pipelines,
        people=people,
        digest=pick("digest"),
        adoption=pick("adoption"),
        wins=pick("wins"),
        admin=admin,
        timezone=zone,
        timezone_reason=why,
        today=today,
    )
    return InitResult(
        starter=starter,
        text=starter_yaml(starter),
        channels_listed=None if channels is None else len(channels),
        warnings=warnings,
    )
