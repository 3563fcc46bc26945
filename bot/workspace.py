"""Reading the Slack workspace for set-up: the bot token's scopes against those the manifest asks
for, CRM owners matched to Slack people by email, and the channels that exist.

Slack names a token's scopes in the `x-oauth-scopes` header of every Web API response; `auth.test`
needs no scope, so one call tells what the token has."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.manifest import required_bot_scopes
from integrations.base import Owner
from rituals.starter import AdminMatch, OwnerMatch, SlackChannel

__all__ = [
    "WHERE_TO_ADD_SLACK_SCOPES",
    "SlackUnavailable",
    "find_admin",
    "list_channels",
    "match_owners",
    "missing_slack_scopes",
    "slack_access_problem",
]

WHERE_TO_ADD_SLACK_SCOPES = (
    "add them at https://api.slack.com/apps > your app > OAuth & Permissions > Bot Token Scopes "
    "(or paste the output of `drumbeat manifest --url ...` into the app's App Manifest page), "
    "then reinstall the app to the workspace"
)
_SCOPES_HEADER = "x-oauth-scopes"


class SlackUnavailable(Exception):
    """Slack refused the token or could not be reached; the message is safe to show."""


def missing_slack_scopes(client: WebClient) -> list[str]:
    """The manifest's bot scopes the token lacks (none when Slack does not say which it has)."""
    try:
        response = client.auth_test()
    except SlackApiError as exc:
        raise SlackUnavailable(
            f"Slack refused the bot token ({exc.response.get('error', 'unknown error')})"
        ) from None
    except (SlackClientError, OSError) as exc:
        raise SlackUnavailable(f"Slack is unreachable ({type(exc).__name__})") from None
    header = next((str(v) for k, v in (response.headers or {}).items() if k.lower() == _SCOPES_HEADER), None)
    if header is None:
        return []
    granted = {scope.strip() for scope in header.split(",") if scope.strip()}
    return [scope for scope in required_bot_scopes() if scope not in granted]


def slack_access_problem(client: WebClient) -> str | None:
    """None when Slack accepts the bot token with every scope Drumbeat asks for, else what is wrong."""
    try:
        missing = missing_slack_scopes(client)
    except SlackUnavailable as exc:
        return str(exc)
    if missing:
        return f"the bot token lacks scope {', '.join(missing)}: {WHERE_TO_ADD_SLACK_SCOPES}"
    return None


def match_owners(client: WebClient, owners: Iterable[Owner]) -> list[OwnerMatch]:
    """Each owner with the Slack person their email finds (`users.lookupByEmail`), or why not."""
    matches: list[OwnerMatch] = []
    for owner in owners:
        if not owner.email:
            matches.append(OwnerMatch(owner, reason="no email in the CRM to look them up in Slack"))
            continue
        try:
            user = _lookup(client, owner.email)
        except _ScopeMissing as exc:
            reason = f"not looked up: the Slack token lacks {exc.scope}"
            matches.append(OwnerMatch(owner, reason=reason))
            continue
        problem = _unusable(user, owner.email)
        if user is None or problem is not None:
            matches.append(OwnerMatch(owner, reason=problem))
            continue
        matches.append(OwnerMatch(owner, slack_id=user["id"], slack_name=_name(user), tz=user.get("tz")))
    return matches


def find_admin(client: WebClient, email: str | None) -> AdminMatch:
    if not email:
        return AdminMatch()
    email = email.strip().lower()
    try:
        user = _lookup(client, email)
    except _ScopeMissing as exc:
        return AdminMatch(reason=f"{email} was not looked up: the Slack token lacks {exc.scope}")
    problem = _unusable(user, email)
    if user is None or problem is not None:
        return AdminMatch(reason=f"--admin {email}: {problem}")
    return AdminMatch(email=email, slack_id=user["id"], slack_name=_name(user), tz=user.get("tz"))


def list_channels(client: WebClient, *, private: bool) -> list[SlackChannel] | None:
    """Unarchived channels Drumbeat can see (`conversations.list`); None when the token may not list them."""
    types = "public_channel,private_channel" if private else "public_channel"
    channels: list[SlackChannel] = []
    cursor: str | None = None
    while True:
        try:
            page = _call(
                lambda cursor=cursor: client.conversations_list(
                    types=types, exclude_archived=True, limit=200, cursor=cursor
                )
            )
        except _ScopeMissing:
            return None
        for raw in page.get("channels") or []:
            channels.append(
                SlackChannel(
                    id=str(raw["id"]),
                    name=str(raw.get("name") or raw["id"]),
                    is_member=bool(raw.get("is_member")),
                    is_private=bool(raw.get("is_private")),
                )
            )
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if cursor is None:
            return channels


class _ScopeMissing(Exception):
    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


def _call(fn: Any) -> Any:
    """The call's JSON; Slack's missing_scope apart (the caller says what is left undone)."""
    try:
        return fn()
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error == "missing_scope":
            raise _ScopeMissing(str(exc.response.get("needed") or "a scope")) from None
        raise SlackUnavailable(f"Slack refused the request ({error})") from None
    except (SlackClientError, OSError) as exc:
        raise SlackUnavailable(f"Slack is unreachable ({type(exc).__name__})") from None


def _lookup(client: WebClient, email: str) -> dict[str, Any] | None:
    try:
        response = _call(lambda: client.users_lookupByEmail(email=email))
    except SlackUnavailable as exc:
        if "users_not_found" in str(exc):
            return None
        raise
    user = response.get("user")
    return user if isinstance(user, dict) else None


def _unusable(user: dict[str, Any] | None, email: str) -> str | None:
    if user is None:
        return f"no Slack user has the email {email}"
    if user.get("deleted"):
        return f"the Slack account with {email} ({user.get('id')}) is deactivated"
    if user.get("is_bot"):
        return f"{email} belongs to a Slack bot, not a person"
    return None


def _name(user: dict[str, Any]) -> str:
    profile = user.get("profile") or {}
    return str(profile.get("real_name") or user.get("real_name") or user.get("name") or user["id"])


def channel_names(channels: Sequence[SlackChannel]) -> set[str]:
    return {c.name for c in channels}
