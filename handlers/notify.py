"""Telling people how their change went: through the message's response_url, or a DM."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from http.client import HTTPException
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from core.deals.commands import DealCommands
from core.deals.fields import FIELD_BY_NAME
from core.i18n import Translator
from core.queues.outbox import Notice
from handlers import blocks
from handlers.home import publish_home
from rituals.engine import DeliveryError

log = logging.getLogger(__name__)


def post_reply(
    client: WebClient, user_id: str, response_url: str | None, content: list[dict[str, Any]]
) -> None:
    """Replace the ephemeral message the person acted on, or DM them when there is none, or when
    the response_url refuses it or cannot be reached (expired, refused, not even a URL)."""
    fallback = next((b["text"]["text"] for b in content if b.get("type") == "section"), "Drumbeat")
    if response_url:
        try:
            response = WebhookClient(response_url, timeout=10).send(
                text=fallback, blocks=content, replace_original=True, response_type="ephemeral"
            )
        except (OSError, ValueError, HTTPException) as exc:  # refused, timed out, or a malformed URL
            log.warning("response_url unreachable (%s); sending a DM instead", type(exc).__name__)
        else:
            if response.status_code == 200:
                return
            log.warning("response_url refused the update (%s); sending a DM instead", response.status_code)
    client.chat_postMessage(channel=user_id, text=fallback, blocks=content)


class SlackNotifier:
    """The outbox worker's voice: confirmations, 'queued' notices and rejections."""

    def __init__(self, client: WebClient, deals: DealCommands) -> None:
        self._client = client
        self._deals = deals

    def __call__(self, notice: Notice) -> None:
        label = self._deals.crm_label
        if notice.kind == "done" and notice.source == "nudge":
            return  # the nudge message already shows what was done, in place
        t = self._deals.reader(notice.requested_by)  # the person who asked reads it
        if notice.kind == "queued":
            content = blocks.queued(notice.deal_name, label, t=t)
        elif notice.kind == "superseded":
            content = [
                blocks.mrkdwn(
                    t._(
                        "↩️ A later update to *{deal}* was saved to {crm} first, "
                        "so this one was not applied (it changed {fields}).",
                        deal=blocks.escape(notice.deal_name),
                        crm=label,
                        fields=blocks.escape(_field_labels(notice.reason or "", t)),
                    )
                )
            ]
        elif notice.kind == "rejected":
            # Drumbeat's own reasons are messages to translate; the CRM's own words pass through.
            reason = t._(notice.reason) if notice.reason else t._("it refused the change")
            content = blocks.rejected(notice.deal_name, reason, label, t=t)
        else:
            deal = self._deals.desk.get(notice.deal_id)
            if deal is None:
                return
            changes = self._deals.desk.describe(deal, dict(notice.changes), dict(notice.before), t=t)
            content = blocks.done(deal, changes, notice.note, label, t=t)
        post_reply(self._client, notice.requested_by, notice.response_url, content)

    def refresh_homes(self, notices: Sequence[Notice]) -> None:
        """After a claim's notices: each person with an update saved gets their App Home redrawn once
        (a claim may save a hundred of one person's updates)."""
        for user_id in dict.fromkeys(n.requested_by for n in notices if n.kind == "done"):
            try:
                publish_home(self._client, self._deals, user_id)
            except SlackApiError as exc:
                log.warning("could not refresh App Home: %s", exc.response.get("error"))


def _field_labels(names: str, t: Translator) -> str:
    """`amount, stage_id` (a superseded notice's fields) as the reader calls them."""
    fields = [name.strip() for name in names.split(",") if name.strip()]
    known = [FIELD_BY_NAME.get(name) for name in fields]
    return t.join(t._(field.label) if field else name for field, name in zip(known, fields, strict=True))


# Slack errors after which sending the same DM again cannot work.
PERMANENT_DM_ERRORS = {
    "user_not_found",
    "cannot_dm_bot",
    "account_inactive",
    "user_disabled",
    "channel_not_found",
    "is_archived",
    "invalid_blocks",
    "msg_too_long",
    "no_text",
}


def dm_sender(client: WebClient) -> Callable[[str, str, list[dict[str, Any]]], tuple[str, str]]:
    """chat.postMessage to a person (429s are retried by the client, honouring Retry-After)."""

    def send(user_id: str, text: str, content: list[dict[str, Any]]) -> tuple[str, str]:
        try:
            response = client.chat_postMessage(channel=user_id, text=text, blocks=content)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            raise DeliveryError(f"Slack said {error}", permanent=error in PERMANENT_DM_ERRORS) from None
        except (SlackClientError, OSError) as exc:
            raise DeliveryError(f"Slack unreachable ({type(exc).__name__})", permanent=False) from None
        return str(response["channel"]), str(response["ts"])

    return send
