"""Send correctly (or deliberately wrongly) signed Slack requests into an app under test.

``SlackRequests`` POSTs to ``{app_url}/slack/events`` the bodies Slack sends (slash commands and
interactivity as forms, events as JSON) with ``X-Slack-Signature`` and
``X-Slack-Request-Timestamp`` computed as Slack does::

    signature = "v0=" + hex(HMAC-SHA256(signing_secret, f"v0:{timestamp}:{raw_body}"))

Every request sent is kept as a ``SentRequest`` (``last_sent``, ``sent``) so a test can replay
exactly the same bytes and headers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

import httpx

__all__ = [
    "FORM_CONTENT_TYPE",
    "JSON_CONTENT_TYPE",
    "SLACK_USER_AGENT",
    "SentRequest",
    "SlackRequests",
    "sign",
]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
JSON_CONTENT_TYPE = "application/json"
SLACK_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


def sign(signing_secret: str, timestamp: str | int, body: str | bytes) -> str:
    """Slack's v0 request signature of ``body`` sent at ``timestamp``."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SentRequest:
    """Exactly what was sent: resend it with ``SlackRequests.replay``."""

    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def timestamp(self) -> str | None:
        return _header(self.headers, "X-Slack-Request-Timestamp")

    @property
    def signature(self) -> str | None:
        return _header(self.headers, "X-Slack-Signature")

    def payload(self) -> dict[str, Any]:
        """The body decoded: JSON events as is, forms as a dict, ``payload=`` forms decoded."""
        content_type = (_header(self.headers, "Content-Type") or "").lower()
        if content_type.startswith(JSON_CONTENT_TYPE):
            decoded = json.loads(self.text)
            return decoded if isinstance(decoded, dict) else {"_": decoded}
        form = dict(urllib.parse.parse_qsl(self.text, keep_blank_values=True))
        if set(form) == {"payload"}:
            decoded = json.loads(form["payload"])
            return decoded if isinstance(decoded, dict) else {"_": decoded}
        return dict(form)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)


def _digits(n: int) -> str:
    """``n`` random digits, the first one non-zero."""
    return secrets.choice("123456789") + "".join(secrets.choice("0123456789") for _ in range(n - 1))


def _trigger_id() -> str:
    return f"{_digits(13)}.{_digits(12)}.{secrets.token_hex(16)}"


@dataclass
class SlackRequests:
    """Signed requests into ``POST {app_url}{path}`` (``/slack/events`` by default)."""

    app_url: str
    signing_secret: str
    _: KW_ONLY
    team_id: str = "T0TEAM"
    clock: Callable[[], float] = time.time
    team_domain: str = "drumbeat-test"
    api_app_id: str = "A0APP"
    bot_user_id: str = "UBOT"
    verification_token: str = "legacy-verification-token"
    path: str = "/slack/events"
    timeout: float = 5.0
    client: httpx.Client | None = None
    #: Makes the ``response_url`` of each slash command / message action, e.g.
    #: ``FakeSlack.response_url``.  Without one, a Slack-shaped path on 127.0.0.1:9 (nothing
    #: listens there) so an app under test never reaches the real hooks.slack.com.
    response_url_factory: Callable[[], str] | None = None
    sent: list[SentRequest] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._owns_client = self.client is None
        self._client = self.client or httpx.Client(timeout=self.timeout)

    # ------------------------------------------------------------------ plumbing

    @property
    def url(self) -> str:
        return self.app_url.rstrip("/") + self.path

    @property
    def last_sent(self) -> SentRequest:
        if not self.sent:
            raise LookupError("nothing sent yet")
        return self.sent[-1]

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> SlackRequests:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def post(
        self,
        body: str | bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        sign: bool = True,
        headers: Mapping[str, str | None] | None = None,
    ) -> httpx.Response:
        """POST ``body`` as Slack would.

        ``timestamp`` defaults to ``int(clock())``; ``signature`` to the correct one;
        ``sign=False`` leaves out both signing headers.  ``headers`` are added last; a ``None``
        value removes that header (e.g. ``{"X-Slack-Signature": None}``).
        """
        raw = body.encode("utf-8") if isinstance(body, str) else body
        stamp = str(int(self.clock()) if timestamp is None else timestamp)
        out: dict[str, str] = {
            "Content-Type": content_type,
            "User-Agent": SLACK_USER_AGENT,
            "Accept": "application/json,*/*",
            "Accept-Encoding": "gzip,deflate",
        }
        if sign:
            out["X-Slack-Request-Timestamp"] = stamp
            correct = _sign(self.signing_secret, stamp, raw)
            out["X-Slack-Signature"] = signature if signature is not None else correct
        for name, value in (headers or {}).items():
            for existing in [k for k in out if k.lower() == name.lower()]:
                del out[existing]
            if value is not None:
                out[name] = value
        return self._send(SentRequest(url=self.url, headers=out, body=raw))

    def replay(self, request: SentRequest | httpx.Response | httpx.Request | None = None) -> httpx.Response:
        """Send again exactly the same bytes and headers (default: the last request sent)."""
        if request is None:
            sent = self.last_sent
        elif isinstance(request, SentRequest):
            sent = request
        else:
            original = request.request if isinstance(request, httpx.Response) else request
            skip = {"host", "content-length", "connection"}
            sent = SentRequest(
                url=str(original.url),
                headers={k: v for k, v in original.headers.items() if k.lower() not in skip},
                body=original.content,
            )
        return self._send(sent)

    def _send(self, sent: SentRequest) -> httpx.Response:
        self.sent.append(sent)
        return self._client.post(sent.url, content=sent.body, headers=sent.headers)

    def post_form(self, fields: Mapping[str, str], **kwargs: Any) -> httpx.Response:
        return self.post(urllib.parse.urlencode(fields), FORM_CONTENT_TYPE, **kwargs)

    def post_json(self, document: Mapping[str, Any], **kwargs: Any) -> httpx.Response:
        return self.post(json.dumps(document), JSON_CONTENT_TYPE, **kwargs)

    def post_payload(self, payload: Mapping[str, Any], **kwargs: Any) -> httpx.Response:
        """An interactivity request: form body ``payload=<json>``."""
        return self.post_form({"payload": json.dumps(payload)}, **kwargs)

    def _user(self, user_id: str, user_name: str | None) -> dict[str, str]:
        name = user_name or user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def _team(self) -> dict[str, str]:
        return {"id": self.team_id, "domain": self.team_domain}

    def default_response_url(self) -> str:
        if self.response_url_factory is not None:
            return self.response_url_factory()
        return f"http://127.0.0.1:9/commands/{self.team_id}/{_digits(13)}/{secrets.token_urlsafe(18)}"

    # ------------------------------------------------------------------ Slack's requests

    def slash_command(
        self,
        text: str,
        *,
        user_id: str,
        command: str = "/deal",
        channel_id: str = "C0GENERAL",
        response_url: str | None = None,
        trigger_id: str | None = None,
        **overrides: str | None,
    ) -> httpx.Response:
        """A slash command, form-encoded with Slack's fields in Slack's order.

        ``overrides`` replace fields (``channel_name="deals"``) or, when ``None``, drop them.
        """
        if channel_id.startswith("D"):
            channel_name = "directmessage"
        elif channel_id.startswith("G"):
            channel_name = "privategroup"
        else:
            channel_name = "general"
        fields: dict[str, str | None] = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url or self.default_response_url(),
            "trigger_id": trigger_id or _trigger_id(),
        }
        fields.update(overrides)
        return self.post_form({k: v for k, v in fields.items() if v is not None})

    def block_actions(
        self,
        *,
        user_id: str,
        actions: list[dict[str, Any]],
        message: dict[str, Any] | None = None,
        container: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
        response_url: str | None = None,
        trigger_id: str | None = None,
        channel_id: str = "C0GENERAL",
        channel_name: str = "general",
        user_name: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """A ``block_actions`` interaction on a message (default) or on a ``view``."""
        now = self.clock()
        filled: list[dict[str, Any]] = []
        for index, action in enumerate(actions):
            item = {"type": "button", "block_id": f"b{index}", "action_ts": f"{now:.6f}", **action}
            filled.append(item)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user(user_id, user_name),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
        }
        if view is not None:
            # An action inside a modal or Home tab: no channel/message, no response_url.
            full_view = self._view(view)
            payload["container"] = container or {"type": "view", "view_id": full_view["id"]}
        else:
            posted = message or {
                "type": "message",
                "user": self.bot_user_id,
                "ts": f"{now:.6f}",
                "text": "",
                "bot_id": "B0BOT",
                "app_id": self.api_app_id,
            }
            payload["container"] = container or {
                "type": "message",
                "message_ts": posted.get("ts"),
                "channel_id": channel_id,
                "is_ephemeral": False,
            }
        payload["trigger_id"] = trigger_id or _trigger_id()
        payload["team"] = self._team()
        payload["enterprise"] = None
        payload["is_enterprise_install"] = False
        if view is not None:
            payload["view"] = full_view
        else:
            payload["channel"] = {"id": channel_id, "name": channel_name}
            payload["message"] = posted
        payload["state"] = state or {"values": {}}
        if view is None or response_url is not None:
            payload["response_url"] = response_url or self.default_response_url()
        payload["actions"] = filled
        return self.post_payload(payload)

    def _view(self, view: dict[str, Any]) -> dict[str, Any]:
        """``view`` completed with the fields Slack includes in interaction payloads."""
        view_id = view.get("id") or f"V0{_digits(8)}"
        full: dict[str, Any] = {
            "id": view_id,
            "team_id": self.team_id,
            "type": "modal",
            "blocks": [],
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            "hash": f"{int(self.clock())}.{secrets.token_hex(4)}",
            "title": {"type": "plain_text", "text": "Drumbeat", "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.api_app_id,
            "external_id": "",
            "app_installed_team_id": self.team_id,
            "bot_id": "B0BOT",
        }
        full.update(view)
        return full

    def view_submission(
        self,
        *,
        user_id: str,
        view: dict[str, Any],
        user_name: str | None = None,
        trigger_id: str | None = None,
        response_urls: list[dict[str, Any]] | None = None,
    ) -> httpx.Response:
        """A modal submission; put the input values in ``view["state"]["values"]``."""
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id, user_name),
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": trigger_id or _trigger_id(),
            "view": self._view(view),
            "response_urls": response_urls or [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self.post_payload(payload)

    def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> httpx.Response:
        """An Events API ``event_callback``; ``retry_num`` adds Slack's retry headers."""
        now = self.clock()
        inner = {"event_ts": f"{now:.6f}", **event}
        envelope = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "context_team_id": self.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.api_app_id,
            "event": inner,
            "type": "event_callback",
            "event_id": event_id or f"Ev0{_digits(9)}",
            "event_time": int(now),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_urlsafe(24)}",
        }
        extra: dict[str, str | None] = {}
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self.post_json(envelope, headers=extra)

    def url_verification(self, challenge: str) -> httpx.Response:
        document = {"token": self.verification_token, "challenge": challenge, "type": "url_verification"}
        return self.post_json(document)


_sign = sign  # ``SlackRequests.post`` has a ``sign`` argument shadowing the function
