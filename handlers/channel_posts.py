"""Posting the manager reports to their channels: the message, its thread, the chart (files_upload_v2),
and the user group mention. Errors become sentences an admin can act on."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from core.i18n import Translator
from rituals.digest import PipelineDigest
from rituals.engine import TOKEN_REFUSED, DeliveryError
from rituals.manager_rituals import DigestRenderer, Poster, PostOutcome
from rituals.posts import ChannelPost, SlackMessage

log = logging.getLogger(__name__)

_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,}")
_GROUP_ID = re.compile(r"S[A-Z0-9]{2,}")
# Slack errors after which posting the same message again cannot work until an admin acts.
_PERMANENT = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_blocks",
    "msg_too_long",
    "missing_scope",
    "not_authed",
    "invalid_auth",
    "account_inactive",
    "token_revoked",
    "restricted_action",
}


def channel_poster(client: WebClient) -> Poster:
    """Post a report: one message, then its chart and thread replies (those only warn when refused)."""
    channels = _ChannelDirectory(client)

    def post(channel: str, report: ChannelPost) -> PostOutcome:
        channel_id = channels.resolve(channel)
        try:
            ts = _send(client, channel_id, report.message)
        except SlackApiError as exc:
            raise _refused(exc, channel) from None
        except (SlackClientError, OSError) as exc:
            raise DeliveryError(f"Slack is unreachable ({type(exc).__name__})", permanent=False) from None
        warnings = []
        if report.chart is not None:
            chart = report.chart
            try:
                client.files_upload_v2(
                    channel=channel_id,
                    file=chart.png,
                    filename=chart.filename,
                    title=chart.title,
                    alt_txt=chart.alt_text,
                )
            except SlackApiError as exc:
                warnings.append(_chart_refused(exc))
            except (SlackClientError, OSError) as exc:
                warnings.append(f"the chart was not uploaded: Slack is unreachable ({type(exc).__name__})")
        failed = 0
        for reply in report.thread:
            try:
                _send(client, channel_id, reply, thread_ts=ts)
            except (SlackApiError, SlackClientError, OSError) as exc:
                failed += 1
                log.warning("thread reply to %s not posted: %s", channel, exc)
        if failed:
            warnings.append(f"{failed} of {len(report.thread)} thread replies could not be posted")
        return PostOutcome(channel_id, ts, warnings)

    return post


def digest_renderer(client: WebClient | None, render: Callable[..., ChannelPost]) -> DigestRenderer:
    """The digest's Block Kit, with `mention:` turned into a real user group mention when Slack knows it."""
    groups: dict[str, str] = {}

    def rendered(digest: PipelineDigest, mention: str | None, *, t: Translator) -> ChannelPost:
        markup = None
        if mention is not None:
            markup = _mention(client, mention, groups, digest.warnings)
        return render(digest, mention=markup, t=t)

    return rendered


def _mention(client: WebClient | None, ref: str, cache: dict[str, str], warnings: list[str]) -> str | None:
    """`<!subteam^S…>` for a user group; None (no mention, a warning) when Slack does not know it."""
    if _GROUP_ID.fullmatch(ref):
        return f"<!subteam^{ref}>"
    handle = ref.removeprefix("@")
    if client is None:  # the demo: no Slack to ask, the handle reads as written
        return ref
    if handle not in cache:
        try:
            found: list[dict[str, Any]] = client.usergroups_list(include_disabled=False).get("usergroups", [])
            for group in found:
                cache[str(group.get("handle"))] = str(group.get("id"))
        except SlackApiError as exc:
            error = exc.response.get("error")
            warnings.append(f"{ref} was not mentioned: Slack refused usergroups.list ({error})")
            return None
        except (SlackClientError, OSError) as exc:
            warnings.append(f"{ref} was not mentioned: Slack is unreachable ({type(exc).__name__})")
            return None
    if handle in cache:
        return f"<!subteam^{cache[handle]}>"
    warnings.append(f"{ref} was not mentioned: Slack has no user group with that handle")
    return None


class _ChannelDirectory:
    """`#sales-weekly` -> its id, looked up once per process (channels are renamed rarely)."""

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def resolve(self, channel: str) -> str:
        if _CHANNEL_ID.fullmatch(channel):
            return channel
        name = channel.removeprefix("#")
        with self._lock:
            if name in self._ids:
                return self._ids[name]
        found = self._find(name)
        if found is None:
            raise DeliveryError(
                f"there is no channel {channel} that Drumbeat can see: create it, or invite Drumbeat "
                "if it is private (/invite @Drumbeat)",
                permanent=True,
            )
        with self._lock:
            self._ids[name] = found
        return found

    def _find(self, name: str) -> str | None:
        cursor = None
        try:
            while True:
                page = self._client.conversations_list(
                    types="public_channel,private_channel", exclude_archived=True, limit=200, cursor=cursor
                )
                listed: list[dict[str, Any]] = page.get("channels", [])
                for conversation in listed:
                    if conversation.get("name") == name:
                        return str(conversation["id"])
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return None
        except SlackApiError as exc:
            error = exc.response.get("error")
            needed = exc.response.get("needed")
            scope = f" (missing scope {needed})" if needed else ""
            raise DeliveryError(
                f"Slack refused to list channels: {error}{scope}", permanent=error in _PERMANENT
            ) from None
        except (SlackClientError, OSError) as exc:
            raise DeliveryError(f"Slack is unreachable ({type(exc).__name__})", permanent=False) from None


def _send(client: WebClient, channel_id: str, message: SlackMessage, *, thread_ts: str | None = None) -> str:
    extra: dict[str, Any] = {"thread_ts": thread_ts} if thread_ts else {}
    response = client.chat_postMessage(
        channel=channel_id,
        text=message.text,
        blocks=message.blocks,
        unfurl_links=False,
        unfurl_media=False,
        **extra,
    )
    return str(response["ts"])


def _refused(exc: SlackApiError, channel: str) -> DeliveryError:
    error = str(exc.response.get("error", "unknown_error"))
    if error == "not_in_channel":
        message = f"Drumbeat is not a member of {channel}: invite it there with /invite @Drumbeat"
    elif error in ("channel_not_found", "is_archived"):
        message = f"{channel} cannot be posted to ({error}): check the channel in the rituals file"
    elif error == "missing_scope":
        message = f"the Slack app lacks the scope {exc.response.get('needed', 'chat:write')}"
    elif error in TOKEN_REFUSED:
        message = f"Slack refused Drumbeat's bot token ({error}): check SLACK_BOT_TOKEN"
    else:
        message = f"Slack refused the post ({error})"
    return DeliveryError(message, permanent=error in _PERMANENT, error=error)


def _chart_refused(exc: SlackApiError) -> str:
    error = exc.response.get("error")
    if error == "missing_scope":
        needed = exc.response.get("needed") or "files:write"
        return (
            f"the chart was not uploaded: the Slack app lacks the {needed} scope "
            "(add it under OAuth & Permissions and reinstall the app)"
        )
    return f"the chart was not uploaded: Slack said {error}"
