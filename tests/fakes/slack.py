"""A local HTTP fake of the Slack Web API, spoken to by the real ``slack_sdk.WebClient``.

Start it, point a client at it, and assert on what was sent::

    with FakeSlack() as slack:
        slack.add_user("U1", "ana@example.com", "Ana Lima")
        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        client.chat_postMessage(channel="U1", text="hi")
        assert slack.messages_in("U1")[0]["text"] == "hi"

The wire format follows Slack's: every answer is JSON with ``ok``; errors are HTTP 200
``{"ok": false, "error": ...}`` except rate limits (HTTP 429 + ``Retry-After``) and injected
server errors.  Stdlib only; one ``ThreadingHTTPServer`` on 127.0.0.1 in a daemon thread.
"""

from __future__ import annotations

import base64
import binascii
import copy
import email.parser
import email.policy
import json
import mimetypes
import secrets
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DEFAULT_SCOPES",
    "FakeFile",
    "FakeSlack",
    "SlackCall",
    "ViewRecord",
]

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

#: Scopes the fake bot token holds unless changed with ``remove_scope``/``add_scope``.
#: ``chat:write.public`` is deliberately absent so posting to a channel the bot is not in
#: answers ``not_in_channel`` as it does for a typical bot.
DEFAULT_SCOPES: frozenset[str] = frozenset(
    {
        "channels:read",
        "chat:write",
        "commands",
        "files:write",
        "groups:read",
        "im:read",
        "im:write",
        "mpim:read",
        "mpim:write",
        "reactions:write",
        "usergroups:read",
        "users:read",
        "users:read.email",
    }
)

#: Scope each served method needs (bot token).  ``None``: no scope needed.
_METHOD_SCOPES: dict[str, str | None] = {
    "api.test": None,
    "auth.test": None,
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "conversations.open": "im:write",
    "conversations.info": None,  # depends on the conversation type: checked by the handler
    "conversations.list": None,  # depends on ``types``: checked by the handler
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "users.list": "users:read",
    "usergroups.list": "usergroups:read",
    "views.open": None,
    "views.update": None,
    "views.push": None,
    "views.publish": None,
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "reactions.add": "reactions:write",
}

MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
SECTION_TEXT_LIMIT = 3000
SECTION_FIELDS_LIMIT = 10
SECTION_FIELD_TEXT_LIMIT = 2000
HEADER_TEXT_LIMIT = 150
ACTIONS_ELEMENTS_LIMIT = 25
CONTEXT_ELEMENTS_LIMIT = 10
BLOCK_ID_LIMIT = 255
MESSAGE_TEXT_LIMIT = 40000
MARKDOWN_TEXT_LIMIT = 12000
VIEW_TITLE_LIMIT = 24
PRIVATE_METADATA_LIMIT = 3000
RESPONSE_URL_MAX_USES = 5

_TZ_LABELS = {
    "CET": "Central European Time",
    "CEST": "Central European Summer Time",
    "EET": "Eastern European Time",
    "EEST": "Eastern European Summer Time",
    "WET": "Western European Time",
    "WEST": "Western European Summer Time",
    "GMT": "Greenwich Mean Time",
    "BST": "British Summer Time",
    "UTC": "Coordinated Universal Time",
    "EST": "Eastern Standard Time",
    "EDT": "Eastern Daylight Time",
    "CST": "Central Standard Time",
    "CDT": "Central Daylight Time",
    "MST": "Mountain Standard Time",
    "MDT": "Mountain Daylight Time",
    "PST": "Pacific Standard Time",
    "PDT": "Pacific Daylight Time",
}


# --------------------------------------------------------------------------------------------
# Public records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackCall:
    """One request the fake received on ``/api/<method>``.

    ``params`` merges query-string, form-encoded, multipart and JSON arguments as sent: JSON
    bodies keep native values (slack_sdk sends ``blocks`` as a list), form bodies keep strings
    (``blocks`` as a JSON string).  Use ``decoded()`` to read either the same way.
    ``headers`` keys are lower-cased.
    """

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float
    http_method: str = "POST"
    body: bytes = b""
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)

    def decoded(self, name: str, default: Any = None) -> Any:
        """The argument ``name``, JSON-decoded when it was sent as a JSON string."""
        value = self.params.get(name, default)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    @property
    def decoded_params(self) -> dict[str, Any]:
        """All arguments, each as ``decoded()`` reads it."""
        return {name: self.decoded(name) for name in self.params}

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        error = self.response.get("error")
        return error if isinstance(error, str) else None


@dataclass
class FakeFile:
    """A file announced with ``files.getUploadURLExternal`` (and maybe uploaded/completed)."""

    id: str
    filename: str
    length: int
    alt_txt: str | None = None
    snippet_type: str | None = None
    upload_key: str = ""
    content: bytes | None = None
    title: str | None = None
    completed: bool = False
    channel_id: str | None = None
    channels: list[str] = field(default_factory=list)
    initial_comment: str | None = None
    thread_ts: str | None = None
    created: int = 0

    @property
    def alt_text(self) -> str | None:
        """Alias of ``alt_txt`` (Slack's argument name is ``alt_txt``)."""
        return self.alt_txt

    @property
    def uploaded(self) -> bool:
        return self.content is not None


@dataclass(frozen=True)
class ViewRecord:
    """A view the app opened, pushed, updated or published, as the fake answered it."""

    method: str
    view: dict[str, Any]
    at: float
    trigger_id: str | None = None
    user_id: str | None = None


# --------------------------------------------------------------------------------------------
# Internal state
# --------------------------------------------------------------------------------------------


class _ApiError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class _Injection:
    kind: Literal["ratelimit", "fail", "server_error"]
    error: str = ""
    status: int = 200
    retry_after: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class _User:
    id: str
    email: str | None
    real_name: str
    tz: str
    is_bot: bool
    deleted: bool
    name: str
    display_name: str
    is_admin: bool
    updated: int
    locale: str = "en-US"


@dataclass
class _Channel:
    id: str
    name: str
    kind: Literal["channel", "im", "mpim"]
    is_private: bool = False
    bot_is_member: bool = True
    members: set[str] | None = None  # None: everybody is a member
    is_archived: bool = False
    created: int = 0
    user: str | None = None  # the other party of an IM
    topic: str = ""
    purpose: str = ""


@dataclass
class _UserGroup:
    id: str
    handle: str
    name: str
    description: str
    users: list[str]
    created: int


@dataclass
class _ResponseUrl:
    key: str
    uses: int = 0
    payloads: list[dict[str, Any]] = field(default_factory=list)
    channel: str | None = None
    message_ts: str | None = None


@dataclass
class _Request:
    method: str
    params: dict[str, Any]


_Handler = Callable[[_Request], dict[str, Any]]


def _tz_details(tz: str) -> tuple[str, int]:
    """(tz_label, tz_offset seconds) for an IANA zone, now."""
    zone = ZoneInfo(tz)
    now = datetime.now(UTC).astimezone(zone)
    offset = now.utcoffset()
    abbreviation = now.tzname() or tz
    return _TZ_LABELS.get(abbreviation, abbreviation), int(offset.total_seconds()) if offset else 0


def _cursor(kind: str, next_id: str) -> str:
    return base64.b64encode(f"{kind}:{next_id}".encode()).decode()


def _uncursor(kind: str, cursor: str) -> str:
    try:
        decoded = base64.b64decode(cursor.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise _ApiError("invalid_cursor") from error
    prefix, _, next_id = decoded.partition(":")
    if prefix != kind or not next_id:
        raise _ApiError("invalid_cursor")
    return next_id


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return False


def _as_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return None


def _text_of(obj: Any) -> str | None:
    if isinstance(obj, dict):
        text = obj.get("text")
        return text if isinstance(text, str) else None
    return None


def _block_errors(blocks: list[Any], pointer: str, limit: int) -> list[str]:
    """Block Kit schema problems, worded as Slack words them (without the ``[ERROR]`` prefix)."""
    errors: list[str] = []
    if len(blocks) > limit:
        errors.append(f"no more than {limit} items allowed [json-pointer:{pointer}]")
    seen_ids: set[str] = set()
    for index, block in enumerate(blocks):
        here = f"{pointer}/{index}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            errors.append(f"missing required field: type [json-pointer:{here}]")
            continue
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            if block_id in seen_ids:  # Slack: block_id must be unique within a message or view
                errors.append(f"duplicate block_id [json-pointer:{here}/block_id]")
            seen_ids.add(block_id)
        if isinstance(block_id, str) and len(block_id) > BLOCK_ID_LIMIT:
            errors.append(f"must be less than {BLOCK_ID_LIMIT + 1} characters [json-pointer:{here}/block_id]")
        kind = block["type"]
        if kind == "section":
            text = _text_of(block.get("text"))
            if text is not None and len(text) > SECTION_TEXT_LIMIT:
                errors.append(f"failed to match all allowed schemas [json-pointer:{here}/text]")
                errors.append(
                    f"must be less than {SECTION_TEXT_LIMIT + 1} characters [json-pointer:{here}/text/text]"
                )
            fields = block.get("fields")
            if isinstance(fields, list):
                if len(fields) > SECTION_FIELDS_LIMIT:
                    errors.append(
                        f"no more than {SECTION_FIELDS_LIMIT} items allowed [json-pointer:{here}/fields]"
                    )
                for field_index, item in enumerate(fields):
                    item_text = _text_of(item)
                    if item_text is not None and len(item_text) > SECTION_FIELD_TEXT_LIMIT:
                        errors.append(
                            f"must be less than {SECTION_FIELD_TEXT_LIMIT + 1} characters "
                            f"[json-pointer:{here}/fields/{field_index}/text]"
                        )
            if block.get("text") is None and fields is None and block.get("expand") is None:
                errors.append(f"must provide either text or fields [json-pointer:{here}]")
        elif kind == "header":
            text = _text_of(block.get("text"))
            if text is None:
                errors.append(f"missing required field: text [json-pointer:{here}]")
            elif len(text) > HEADER_TEXT_LIMIT:
                errors.append(
                    f"must be less than {HEADER_TEXT_LIMIT + 1} characters [json-pointer:{here}/text/text]"
                )
        elif kind in ("actions", "context"):
            elements = block.get("elements")
            most = ACTIONS_ELEMENTS_LIMIT if kind == "actions" else CONTEXT_ELEMENTS_LIMIT
            if not isinstance(elements, list):
                errors.append(f"missing required field: elements [json-pointer:{here}]")
            elif len(elements) > most:
                errors.append(f"no more than {most} items allowed [json-pointer:{here}/elements]")
    return errors


def _with_block_ids(blocks: list[Any]) -> list[Any]:
    """A copy of ``blocks`` where each block has a ``block_id``, as Slack stores them."""
    out: list[Any] = []
    for block in blocks:
        if isinstance(block, dict):
            block = copy.deepcopy(block)
            block.setdefault("block_id", secrets.token_urlsafe(4)[:5])
        out.append(block)
    return out


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    params: dict[str, Any] = {}
    if not message.is_multipart():
        raise _ApiError("invalid_form_data")
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        params[name] = data if part.get_filename() else data.decode("utf-8", "replace")
    return params


def _parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], bool]:
    """(arguments, sent_as_json)."""
    if not body:
        return {}, False
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "application/json":
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise _ApiError("invalid_json") from error
        if not isinstance(data, dict):
            raise _ApiError("json_not_object")
        return data, True
    if media_type == "multipart/form-data":
        return _parse_multipart(content_type, body), False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _ApiError("invalid_form_data") from error
    return dict(urllib.parse.parse_qsl(text, keep_blank_values=True)), False


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops concurrent connects into 1 s SYN retries

    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        super().__init__(("127.0.0.1", 0), _HttpHandler)


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Apache"  # what slack.com answers with
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, verb: str) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, response_headers, payload = self.server.fake._handle_http(verb, self.path, headers, body)
        self.send_response(status)
        for name, value in response_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()


_HttpResult = tuple[int, dict[str, str], bytes]


def _json_result(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> _HttpResult:
    out = {"Content-Type": JSON_CONTENT_TYPE, "X-Slack-Req-Id": secrets.token_hex(16)}
    out.update(headers or {})
    return status, out, json.dumps(body).encode("utf-8")


def _text_result(status: int, text: str) -> _HttpResult:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode("utf-8")


# --------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------


class FakeSlack:
    """An in-process Slack Web API speaking Slack's wire format to the real slack_sdk."""

    def __init__(
        self,
        bot_token: str = "xoxb-test-token",  # noqa: S107 - a fake's fake token
        *,
        team_id: str = "T0TEAM",
        bot_user_id: str = "UBOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0APP",
        bot_name: str = "drumbeat",
        team_name: str = "Drumbeat Test",
        team_domain: str = "drumbeat-test",
    ) -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self.team_name = team_name
        self.team_domain = team_domain
        #: Seconds every HTTP request waits before it is answered.
        self.latency: float = 0.0

        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

        self._calls: list[SlackCall] = []
        self._injections: dict[str, deque[_Injection]] = {}
        self._scopes: set[str] = set(DEFAULT_SCOPES)
        self._revoked_error: str | None = None
        self._users: dict[str, _User] = {}
        self._channels: dict[str, _Channel] = {}
        self._ims: dict[str, str] = {}  # user id -> IM channel id
        self._mpims: dict[tuple[str, ...], str] = {}
        self._usergroups: dict[str, _UserGroup] = {}
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._ephemerals: list[dict[str, Any]] = []
        self._views: dict[str, dict[str, Any]] = {}
        self._home_views: dict[str, str] = {}  # user id -> view id
        self._view_log: list[ViewRecord] = []
        self._files: dict[str, FakeFile] = {}
        self._uploads: dict[str, str] = {}  # upload key -> file id
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._counters: dict[str, int] = {}
        self._last_ts_micros = 0

        self._handlers: dict[str, _Handler] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.list": self._conversations_list,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.list": self._users_list,
            "usergroups.list": self._usergroups_list,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "reactions.add": self._reactions_add,
        }
        self._users[bot_user_id] = _User(
            id=bot_user_id,
            email=None,
            real_name=bot_name.capitalize(),
            tz="America/Los_Angeles",
            is_bot=True,
            deleted=False,
            name=bot_name,
            display_name="",
            is_admin=False,
            updated=int(time.time()),
        )

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeSlack:
        if self._server is not None:
            return self
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="FakeSlack",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``"""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """``http://127.0.0.1:PORT/api/``: pass as ``WebClient(base_url=...)``."""
        return f"{self.base_url}/api/"

    # ---------------------------------------------------------------- workspace set-up

    def add_user(
        self,
        user_id: str,
        email: str | None,
        real_name: str,
        tz: str = "Europe/Paris",
        *,
        is_bot: bool = False,
        deleted: bool = False,
        display_name: str | None = None,
        name: str | None = None,
        is_admin: bool = False,
        locale: str = "en-US",
    ) -> None:
        """`locale` is what users.info says with `include_locale=true` (Slack's `fr-FR`, `en-US`…)."""
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError(f"unknown time zone {tz!r}") from error
        handle = name or (email.split("@", 1)[0] if email else real_name.lower().replace(" ", "."))
        with self._lock:
            self._users[user_id] = _User(
                id=user_id,
                email=email,
                real_name=real_name,
                tz=tz,
                is_bot=is_bot,
                deleted=deleted,
                name=handle,
                display_name=display_name if display_name is not None else "",
                is_admin=is_admin,
                updated=int(time.time()),
                locale=locale,
            )

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        bot_is_member: bool = True,
        is_private: bool = False,
        members: list[str] | None = None,
        is_archived: bool = False,
        topic: str = "",
        purpose: str = "",
    ) -> None:
        """Add a channel.  ``members=None`` makes every user a member (for postEphemeral)."""
        with self._lock:
            self._channels[channel_id] = _Channel(
                id=channel_id,
                name=name,
                kind="channel",
                is_private=is_private,
                bot_is_member=bot_is_member,
                members=set(members) if members is not None else None,
                is_archived=is_archived,
                created=int(time.time()),
                topic=topic,
                purpose=purpose,
            )
            self._messages.setdefault(channel_id, [])

    def add_usergroup(
        self,
        group_id: str,
        handle: str,
        *,
        name: str | None = None,
        users: list[str] | None = None,
        description: str = "",
    ) -> None:
        with self._lock:
            self._usergroups[group_id] = _UserGroup(
                id=group_id,
                handle=handle,
                name=name or handle,
                description=description,
                users=list(users or []),
                created=int(time.time()),
            )

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str,
        thread_ts: str | None = None,
        blocks: list[dict[str, Any]] | None = None,
    ) -> str:
        """Seed a message written by a person (not the bot); returns its ``ts``."""
        with self._lock:
            target = self._lookup_channel(channel)
            if target is None:
                raise KeyError(f"unknown channel {channel!r}")
            ts = self._next_ts()
            message: dict[str, Any] = {
                "type": "message",
                "user": user,
                "text": text,
                "ts": ts,
                "team": self.team_id,
            }
            if blocks is not None:
                message["blocks"] = _with_block_ids(blocks)
            if thread_ts:
                message["thread_ts"] = thread_ts
            self._messages.setdefault(target.id, []).append(message)
            return ts

    # ---------------------------------------------------------------- fault injection

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 429 with ``Retry-After``."""
        self._inject(
            method, times, _Injection("ratelimit", error="ratelimited", status=429, retry_after=retry_after)
        )

    def fail(self, method: str, error: str, times: int = 1, *, extra: dict[str, Any] | None = None) -> None:
        """The next ``times`` calls of ``method`` answer HTTP 200 ``{"ok": false, "error": error}``."""
        self._inject(method, times, _Injection("fail", error=error, extra=dict(extra or {})))

    def server_error(self, method: str, times: int = 1, status: int = 503) -> None:
        """The next ``times`` calls of ``method`` answer HTTP ``status`` (5xx)."""
        error = {500: "internal_error", 503: "service_unavailable", 504: "request_timeout"}.get(
            status, "fatal_error"
        )
        self._inject(method, times, _Injection("server_error", error=error, status=status))

    def _inject(self, method: str, times: int, injection: _Injection) -> None:
        """``method="*"`` applies to any method (after the method's own injections)."""
        with self._lock:
            queue = self._injections.setdefault(method, deque())
            for _ in range(times):
                queue.append(copy.deepcopy(injection))

    def revoke_token(self, *, error: str = "invalid_auth") -> None:
        """Every authenticated call now answers ``error`` (``invalid_auth`` / ``token_revoked``
        / ``account_inactive``)."""
        with self._lock:
            self._revoked_error = error

    def restore_token(self) -> None:
        with self._lock:
            self._revoked_error = None

    def remove_scope(self, scope: str) -> None:
        with self._lock:
            self._scopes.discard(scope)

    def add_scope(self, scope: str) -> None:
        with self._lock:
            self._scopes.add(scope)

    @property
    def scopes(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._scopes)

    # ---------------------------------------------------------------- inspection

    @property
    def calls(self) -> list[SlackCall]:
        """Every ``/api/`` request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        with self._lock:
            return [call for call in self._calls if call.method == method]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 2.0) -> list[SlackCall]:
        """Block until ``method`` was called ``count`` times; for apps that call Slack later."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [call for call in self._calls if call.method == method]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{method} called {len(found)} times, expected {count}")
                self._changed.wait(remaining)

    def messages_in(self, channel_or_user: str) -> list[dict[str, Any]]:
        """Messages in a channel (by id or name) or in the bot's IM with a user, oldest first."""
        with self._lock:
            channel_id = self._ims.get(channel_or_user)
            if channel_id is None:
                target = self._lookup_channel(channel_or_user)
                channel_id = target.id if target else channel_or_user
            return copy.deepcopy(self._messages.get(channel_id, []))

    @property
    def messages(self) -> dict[str, list[dict[str, Any]]]:
        """All messages by channel id (a copy)."""
        with self._lock:
            return copy.deepcopy(self._messages)

    def ephemeral_messages(self, user: str | None = None) -> list[dict[str, Any]]:
        """``chat.postEphemeral`` messages: dicts with ``channel``, ``user`` and ``message``."""
        with self._lock:
            return [copy.deepcopy(e) for e in self._ephemerals if user is None or e["user"] == user]

    def im_channel(self, user_id: str) -> str | None:
        """The bot's IM channel id with ``user_id``, if one was opened."""
        with self._lock:
            return self._ims.get(user_id)

    @property
    def views(self) -> list[ViewRecord]:
        """Every view opened/pushed/updated/published, oldest first."""
        with self._lock:
            return list(self._view_log)

    def view(self, view_id: str) -> dict[str, Any] | None:
        """The current state of a view."""
        with self._lock:
            found = self._views.get(view_id)
            return copy.deepcopy(found) if found else None

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        with self._lock:
            view_id = self._home_views.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    @property
    def files(self) -> list[FakeFile]:
        """Files completed with ``files.completeUploadExternal``, in upload order."""
        with self._lock:
            return [copy.deepcopy(f) for f in self._files.values() if f.completed]

    def file(self, file_id: str) -> FakeFile | None:
        """Any announced file, completed or not."""
        with self._lock:
            found = self._files.get(file_id)
            return copy.deepcopy(found) if found else None

    def response_url(
        self, key: str | None = None, *, channel: str | None = None, message_ts: str | None = None
    ) -> str:
        """A URL on this server acting as a Slack ``response_url`` (POST JSON; 5 uses).

        Bound to ``channel``/``message_ts``, it also applies ``replace_original`` /
        ``delete_original`` to that message and posts ``in_channel`` responses there.
        """
        with self._lock:
            key = key or secrets.token_urlsafe(12)
            state = self._response_urls.setdefault(key, _ResponseUrl(key=key))
            if channel is not None:
                state.channel = channel
            if message_ts is not None:
                state.message_ts = message_ts
        return f"{self.base_url}/response/{key}"

    def responses(self, key_or_url: str) -> list[dict[str, Any]]:
        """JSON payloads POSTed to a response URL (by key or full URL), oldest first."""
        key = key_or_url.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            state = self._response_urls.get(key)
            return copy.deepcopy(state.payloads) if state else []

    def wait_for_responses(
        self, key_or_url: str, count: int = 1, timeout: float = 2.0
    ) -> list[dict[str, Any]]:
        key = key_or_url.rstrip("/").rsplit("/", 1)[-1]
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                state = self._response_urls.get(key)
                found = state.payloads if state else []
                if len(found) >= count:
                    return copy.deepcopy(found)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"response_url {key} got {len(found)} payloads, expected {count}")
                self._changed.wait(remaining)

    # ---------------------------------------------------------------- HTTP entry point

    def _handle_http(self, verb: str, path: str, headers: dict[str, str], body: bytes) -> _HttpResult:
        at = time.time()
        if self.latency > 0:
            time.sleep(self.latency)
        parsed = urllib.parse.urlsplit(path)
        route = parsed.path
        if route.startswith("/api/"):
            return self._handle_api(verb, route[len("/api/") :], parsed.query, headers, body, at)
        if route.startswith("/upload/v1/") and verb == "POST":
            return self._handle_upload(route[len("/upload/v1/") :], headers, body)
        if route.startswith("/response/") and verb == "POST":
            return self._handle_response_url(route[len("/response/") :], body)
        return _text_result(404, "Not Found")

    def _handle_api(
        self, verb: str, method: str, query: str, headers: dict[str, str], body: bytes, at: float
    ) -> _HttpResult:
        params: dict[str, Any] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        as_json = False
        parse_error: _ApiError | None = None
        try:
            body_params, as_json = _parse_body(headers.get("content-type", ""), body)
            params.update(body_params)
        except _ApiError as error:
            parse_error = error
        token = self._token_from(headers, params, as_json)
        with self._lock:
            status, response, extra_headers = self._answer(method, params, token, parse_error)
            self._calls.append(
                SlackCall(
                    method=method,
                    params=params,
                    headers=dict(headers),
                    at=at,
                    http_method=verb,
                    body=body,
                    status=status,
                    response=copy.deepcopy(response),
                )
            )
            self._changed.notify_all()
        return _json_result(status, response, extra_headers)

    @staticmethod
    def _token_from(headers: dict[str, str], params: dict[str, Any], as_json: bool) -> str | None:
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            return authorization[len("bearer ") :].strip() or None
        # Slack reads ``token`` from the query string or a form body, never from a JSON body.
        token = params.get("token") if not as_json else None
        return token if isinstance(token, str) and token else None

    def _answer(
        self, method: str, params: dict[str, Any], token: str | None, parse_error: _ApiError | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        injection = self._pop_injection(method)
        if injection is not None:
            body = {"ok": False, "error": injection.error, **injection.extra}
            if injection.kind == "ratelimit":
                return 429, body, {"Retry-After": str(injection.retry_after)}
            return injection.status, body, {}
        handler = self._handlers.get(method)
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
        headers: dict[str, str] = {}
        if method != "api.test":
            if token is None:
                return 200, {"ok": False, "error": "not_authed"}, {}
            if self._revoked_error is not None:
                return 200, {"ok": False, "error": self._revoked_error}, {}
            if token != self.bot_token:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            provided = ",".join(sorted(self._scopes))
            needed = _METHOD_SCOPES.get(method)
            headers = {"X-OAuth-Scopes": provided, "X-Accepted-OAuth-Scopes": needed or ""}
            if needed is not None and needed not in self._scopes:
                return (
                    200,
                    {"ok": False, "error": "missing_scope", "needed": needed, "provided": provided},
                    headers,
                )
        if parse_error is not None:
            return 200, {"ok": False, "error": parse_error.error, **parse_error.extra}, headers
        try:
            result = handler(_Request(method=method, params=params))
        except _ApiError as error:
            return 200, {"ok": False, "error": error.error, **error.extra}, headers
        return 200, {"ok": True, **result}, headers

    def _pop_injection(self, method: str) -> _Injection | None:
        for key in (method, "*"):
            queue = self._injections.get(key)
            if queue:
                return queue.popleft()
        return None

    # ---------------------------------------------------------------- helpers

    def _next_id(self, prefix: str) -> str:
        self._counters[prefix] = self._counters.get(prefix, 0) + 1
        return f"{prefix}0{self._counters[prefix]:08d}"

    def _next_ts(self) -> str:
        micros = int(time.time() * 1_000_000)
        if micros <= self._last_ts_micros:
            micros = self._last_ts_micros + 1
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _lookup_channel(self, channel: str) -> _Channel | None:
        if channel in self._channels:
            return self._channels[channel]
        name = channel.removeprefix("#")
        for candidate in self._channels.values():
            if candidate.kind == "channel" and candidate.name == name:
                return candidate
        return None

    def _open_im(self, user_id: str) -> tuple[_Channel, bool]:
        """(IM channel, already_open)."""
        existing = self._ims.get(user_id)
        if existing is not None:
            return self._channels[existing], True
        im = _Channel(id=self._next_id("D"), name=user_id, kind="im", created=int(time.time()), user=user_id)
        im.members = {user_id, self.bot_user_id}
        self._channels[im.id] = im
        self._ims[user_id] = im.id
        self._messages.setdefault(im.id, [])
        return im, False

    def _channel_for_post(self, channel: Any) -> _Channel:
        """Resolve ``channel`` for posting as the bot, raising Slack's errors."""
        if not isinstance(channel, str) or not channel:
            raise _ApiError("channel_not_found")
        target = self._lookup_channel(channel)
        if target is None:
            user = self._users.get(channel)
            if user is None or user.deleted:
                raise _ApiError("channel_not_found")
            if user.is_bot and user.id != self.bot_user_id:
                raise _ApiError("cannot_dm_bot")
            target, _ = self._open_im(user.id)
        if target.kind == "channel":
            if target.is_private and not target.bot_is_member:
                raise _ApiError("channel_not_found")
            if target.is_archived:
                raise _ApiError("is_archived")
            if not target.bot_is_member and not (
                "chat:write.public" in self._scopes and not target.is_private
            ):
                raise _ApiError("not_in_channel")
        return target

    def _channel_for_read(self, channel: Any) -> _Channel:
        """Resolve an existing conversation id (no IM opening) the bot can see."""
        if not isinstance(channel, str) or not channel:
            raise _ApiError("channel_not_found")
        target = self._channels.get(channel)
        if target is None or (target.kind == "channel" and target.is_private and not target.bot_is_member):
            raise _ApiError("channel_not_found")
        return target

    def _require_scope(self, scope: str) -> None:
        if scope not in self._scopes:
            raise _ApiError("missing_scope", needed=scope, provided=",".join(sorted(self._scopes)))

    @staticmethod
    def _json_arg(params: dict[str, Any], name: str, error: str) -> Any:
        value = params.get(name)
        if isinstance(value, (str, bytes)):
            if isinstance(value, str) and not value.strip():
                return None
            try:
                return json.loads(value)
            except ValueError as decode_error:
                raise _ApiError(error) from decode_error
        return value

    def _message_content(self, params: dict[str, Any], *, require: bool) -> dict[str, Any]:
        """Validated ``text``/``blocks``/``attachments`` of a chat.* call."""
        text = _as_str(params.get("text"))
        markdown_text = _as_str(params.get("markdown_text"))
        if markdown_text is not None:
            if text or params.get("blocks"):
                raise _ApiError("markdown_text_conflict")
            if len(markdown_text) > MARKDOWN_TEXT_LIMIT:
                raise _ApiError("msg_too_long")
            text = markdown_text
        blocks = self._json_arg(params, "blocks", "invalid_blocks_format")
        attachments = self._json_arg(params, "attachments", "invalid_attachments")
        if blocks is not None:
            if not isinstance(blocks, list):
                raise _ApiError("invalid_blocks_format")
            errors = _block_errors(blocks, "/blocks", MESSAGE_BLOCK_LIMIT)
            if errors:
                raise _ApiError(
                    "invalid_blocks",
                    errors=errors,
                    response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
                )
        if attachments is not None and not isinstance(attachments, list):
            raise _ApiError("invalid_attachments")
        if require and not text and not blocks and not attachments:
            raise _ApiError("no_text")
        if text is not None and len(text) > MESSAGE_TEXT_LIMIT:
            raise _ApiError("msg_too_long")
        content: dict[str, Any] = {}
        if text is not None:
            content["text"] = text
        if blocks is not None:
            content["blocks"] = _with_block_ids(blocks)
        if attachments is not None:
            content["attachments"] = copy.deepcopy(attachments)
        return content

    def _bot_message(self, ts: str, content: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "user": self.bot_user_id,
            "type": "message",
            "ts": ts,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": content.get("text", ""),
            "team": self.team_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "icons": {},
                "deleted": False,
                "updated": int(time.time()),
                "team_id": self.team_id,
            },
        }
        for key in ("blocks", "attachments", "files", "upload"):
            if key in content:
                message[key] = content[key]
        return message

    def _find_message(self, channel_id: str, ts: Any) -> dict[str, Any]:
        if not isinstance(ts, str) or not ts:
            raise _ApiError("message_not_found")
        for message in self._messages.get(channel_id, []):
            if message.get("ts") == ts:
                return message
        raise _ApiError("message_not_found")

    def _user_obj(self, user: _User) -> dict[str, Any]:
        first, _, last = user.real_name.partition(" ")
        profile: dict[str, Any] = {
            "title": "",
            "phone": "",
            "skype": "",
            "real_name": user.real_name,
            "real_name_normalized": user.real_name,
            "display_name": user.display_name,
            "display_name_normalized": user.display_name,
            "fields": None,
            "status_text": "",
            "status_emoji": "",
            "status_expiration": 0,
            "avatar_hash": "g" + secrets.token_hex(5)[:11],
            "first_name": first,
            "last_name": last,
            "image_24": "https://secure.gravatar.com/avatar/x.jpg?s=24",
            "image_32": "https://secure.gravatar.com/avatar/x.jpg?s=32",
            "image_48": "https://secure.gravatar.com/avatar/x.jpg?s=48",
            "image_72": "https://secure.gravatar.com/avatar/x.jpg?s=72",
            "image_192": "https://secure.gravatar.com/avatar/x.jpg?s=192",
            "image_512": "https://secure.gravatar.com/avatar/x.jpg?s=512",
            "team": self.team_id,
        }
        if user.email and "users:read.email" in self._scopes:
            profile["email"] = user.email
        if user.is_bot:
            profile["bot_id"] = self.bot_id if user.id == self.bot_user_id else "B" + user.id[1:]
            profile["api_app_id"] = self.app_id if user.id == self.bot_user_id else ""
            profile["always_active"] = False
        obj: dict[str, Any] = {
            "id": user.id,
            "team_id": self.team_id,
            "name": user.name,
            "deleted": user.deleted,
            "color": "9f69e7",
            "real_name": user.real_name,
            "profile": profile,
            "is_bot": user.is_bot,
            "is_app_user": False,
            "updated": user.updated,
        }
        if not user.deleted:
            # Slack leaves these out for deactivated accounts.
            tz_label, tz_offset = _tz_details(user.tz)
            obj.update(
                {
                    "tz": user.tz,
                    "tz_label": tz_label,
                    "tz_offset": tz_offset,
                    "is_admin": user.is_admin,
                    "is_owner": False,
                    "is_primary_owner": False,
                    "is_restricted": False,
                    "is_ultra_restricted": False,
                    "is_email_confirmed": not user.is_bot,
                    "who_can_share_contact_card": "EVERYONE",
                }
            )
        return obj

    def _channel_obj(self, channel: _Channel) -> dict[str, Any]:
        now = int(time.time())
        if channel.kind == "im":
            user = self._users.get(channel.user or "")
            return {
                "id": channel.id,
                "created": channel.created,
                "is_archived": False,
                "is_im": True,
                "is_org_shared": False,
                "context_team_id": self.team_id,
                "updated": now * 1000,
                "user": channel.user,
                "is_user_deleted": bool(user and user.deleted),
                "priority": 0,
            }
        is_member = channel.bot_is_member
        obj: dict[str, Any] = {
            "id": channel.id,
            "name": channel.name,
            "is_channel": channel.kind == "channel",
            "is_group": False,
            "is_im": False,
            "is_mpim": channel.kind == "mpim",
            "is_private": channel.is_private or channel.kind == "mpim",
            "created": channel.created,
            "is_archived": channel.is_archived,
            "is_general": channel.name == "general",
            "unlinked": 0,
            "name_normalized": channel.name,
            "is_shared": False,
            "is_org_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": self.team_id,
            "updated": now * 1000,
            "parent_conversation": None,
            "creator": "",
            "is_ext_shared": False,
            "shared_team_ids": [self.team_id],
            "pending_connected_team_ids": [],
            "is_member": is_member,
            "topic": {"value": channel.topic, "creator": "", "last_set": 0},
            "purpose": {"value": channel.purpose, "creator": "", "last_set": 0},
            "previous_names": [],
        }
        members = channel.members if channel.members is not None else set(self._users)
        obj["num_members"] = len(members)
        return obj

    @staticmethod
    def _limit(params: dict[str, Any], default: int) -> int:
        raw = params.get("limit")
        if raw is None or raw == "":
            return default
        try:
            limit = int(raw)
        except (TypeError, ValueError) as error:
            raise _ApiError("invalid_limit") from error
        if limit < 0:
            raise _ApiError("invalid_limit")
        return min(limit, 1000) if limit else default

    @staticmethod
    def _page(ids: list[str], kind: str, params: dict[str, Any], limit: int) -> tuple[list[str], str]:
        start = 0
        cursor = params.get("cursor")
        if isinstance(cursor, str) and cursor:
            next_id = _uncursor(kind, cursor)
            if next_id not in ids:
                raise _ApiError("invalid_cursor")
            start = ids.index(next_id)
        if limit <= 0:
            return ids[start:], ""
        page = ids[start : start + limit]
        rest = ids[start + limit :]
        return page, _cursor(kind, rest[0]) if rest else ""

    # ---------------------------------------------------------------- api.* / auth.*

    def _api_test(self, request: _Request) -> dict[str, Any]:
        args = {k: v for k, v in request.params.items() if k != "token"}
        if "error" in args:
            raise _ApiError(str(args["error"]), args=args)
        return {"args": args}

    def _auth_test(self, request: _Request) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    # ---------------------------------------------------------------- chat.*

    def _chat_post_message(self, request: _Request) -> dict[str, Any]:
        params = request.params
        target = self._channel_for_post(params.get("channel"))
        content = self._message_content(params, require=True)
        ts = self._next_ts()
        message = self._bot_message(ts, content)
        thread_ts = _as_str(params.get("thread_ts"))
        if thread_ts:
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = self.bot_user_id
        if params.get("metadata") is not None:
            message["metadata"] = self._json_arg(params, "metadata", "invalid_metadata_format")
        self._messages.setdefault(target.id, []).append(message)
        return {"channel": target.id, "ts": ts, "message": copy.deepcopy(message)}

    def _chat_post_ephemeral(self, request: _Request) -> dict[str, Any]:
        params = request.params
        user_id = _as_str(params.get("user"))
        target = self._channel_for_post(params.get("channel"))
        user = self._users.get(user_id or "")
        if user is None:
            raise _ApiError("user_not_in_channel")
        members = target.members
        if members is not None and user.id not in members:
            raise _ApiError("user_not_in_channel")
        content = self._message_content(params, require=True)
        ts = self._next_ts()
        message = self._bot_message(ts, content)
        self._ephemerals.append({"channel": target.id, "user": user.id, "message": message})
        return {"message_ts": ts}

    def _chat_update(self, request: _Request) -> dict[str, Any]:
        params = request.params
        target = self._channel_for_read(params.get("channel"))
        message = self._find_message(target.id, _as_str(params.get("ts")))
        if message.get("bot_id") != self.bot_id:
            raise _ApiError("cant_update_message")
        content = self._message_content(params, require=True)
        message.update(content)  # blocks/attachments not sent are kept, as Slack keeps them
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "channel": target.id,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "message": copy.deepcopy(message),
        }

    def _chat_delete(self, request: _Request) -> dict[str, Any]:
        params = request.params
        target = self._channel_for_read(params.get("channel"))
        message = self._find_message(target.id, _as_str(params.get("ts")))
        if message.get("bot_id") != self.bot_id:
            raise _ApiError("cant_delete_message")
        self._messages[target.id].remove(message)
        return {"channel": target.id, "ts": message["ts"]}

    # ---------------------------------------------------------------- conversations.*

    def _conversations_open(self, request: _Request) -> dict[str, Any]:
        params = request.params
        channel_id = _as_str(params.get("channel"))
        users_arg = params.get("users")
        if isinstance(users_arg, list):
            user_ids = [str(u) for u in users_arg]
        else:
            user_ids = [u.strip() for u in (_as_str(users_arg) or "").split(",") if u.strip()]
        if channel_id:
            channel = self._channels.get(channel_id)
            if channel is None or channel.kind == "channel":
                raise _ApiError("channel_not_found")
            return {"no_op": True, "already_open": True, "channel": {"id": channel.id}}
        if not user_ids:
            raise _ApiError("users_list_not_supplied")
        if len(user_ids) > 8:
            raise _ApiError("too_many_users")
        for user_id in user_ids:
            user = self._users.get(user_id)
            if user is None:
                raise _ApiError("user_not_found")
            if user.deleted:
                raise _ApiError("user_disabled")
        if len(user_ids) == 1:
            channel, already_open = self._open_im(user_ids[0])
        else:
            key = tuple(sorted(user_ids))
            existing = self._mpims.get(key)
            already_open = existing is not None
            if existing is None:
                name = "mpdm-" + "--".join(self._users[u].name for u in user_ids) + "-1"
                channel = _Channel(
                    id=self._next_id("C"),
                    name=name,
                    kind="mpim",
                    is_private=True,
                    members={*user_ids, self.bot_user_id},
                    created=int(time.time()),
                )
                self._channels[channel.id] = channel
                self._mpims[key] = channel.id
                self._messages.setdefault(channel.id, [])
            else:
                channel = self._channels[existing]
        obj = self._channel_obj(channel) if _as_bool(params.get("return_im")) else {"id": channel.id}
        result: dict[str, Any] = {"channel": obj}
        if already_open:
            result = {"no_op": True, "already_open": True, **result}
        return result

    def _conversations_info(self, request: _Request) -> dict[str, Any]:
        target = self._channel_for_read(request.params.get("channel"))
        if target.kind == "im":
            needed = "im:read"
        elif target.kind == "mpim":
            needed = "mpim:read"
        else:
            needed = "groups:read" if target.is_private else "channels:read"
        self._require_scope(needed)
        return {"channel": self._channel_obj(target)}

    def _conversations_list(self, request: _Request) -> dict[str, Any]:
        params = request.params
        types = {
            t.strip() for t in (_as_str(params.get("types")) or "public_channel").split(",") if t.strip()
        }
        known = {"public_channel", "private_channel", "im", "mpim"}
        if not types <= known:
            raise _ApiError("invalid_types")
        needed = {"public_channel": "channels:read", "private_channel": "groups:read", "im": "im:read"}
        needed["mpim"] = "mpim:read"
        for kind in sorted(types):
            self._require_scope(needed[kind])
        exclude_archived = _as_bool(params.get("exclude_archived"))
        selected: list[str] = []
        for channel in self._channels.values():
            if channel.kind == "im":
                kind = "im"
            elif channel.kind == "mpim":
                kind = "mpim"
            elif channel.is_private:
                if not channel.bot_is_member:
                    continue
                kind = "private_channel"
            else:
                kind = "public_channel"
            if kind in types and not (exclude_archived and channel.is_archived):
                selected.append(channel.id)
        page, next_cursor = self._page(selected, "team", params, self._limit(params, 100))
        return {
            "channels": [self._channel_obj(self._channels[c]) for c in page],
            "response_metadata": {"next_cursor": next_cursor},
        }

    # ---------------------------------------------------------------- users.* / usergroups.*

    def _users_info(self, request: _Request) -> dict[str, Any]:
        user = self._users.get(_as_str(request.params.get("user")) or "")
        if user is None:
            raise _ApiError("user_not_found")
        obj = self._user_obj(user)
        if _as_bool(request.params.get("include_locale")):
            obj["locale"] = user.locale  # Slack adds it only when asked
        return {"user": obj}

    def _users_lookup_by_email(self, request: _Request) -> dict[str, Any]:
        email = (_as_str(request.params.get("email")) or "").strip().lower()
        if not email:
            raise _ApiError("invalid_email")
        for user in self._users.values():
            if user.email and user.email.lower() == email:
                return {"user": self._user_obj(user)}
        raise _ApiError("users_not_found")

    def _users_list(self, request: _Request) -> dict[str, Any]:
        params = request.params
        page, next_cursor = self._page(list(self._users), "user", params, self._limit(params, 0))
        return {
            "members": [self._user_obj(self._users[u]) for u in page],
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _usergroups_list(self, request: _Request) -> dict[str, Any]:
        params = request.params
        include_users = _as_bool(params.get("include_users"))
        include_count = _as_bool(params.get("include_count"))
        groups: list[dict[str, Any]] = []
        for group in self._usergroups.values():
            obj: dict[str, Any] = {
                "id": group.id,
                "team_id": self.team_id,
                "is_usergroup": True,
                "is_subteam": True,
                "name": group.name,
                "description": group.description,
                "handle": group.handle,
                "is_external": False,
                "date_create": group.created,
                "date_update": group.created,
                "date_delete": 0,
                "auto_type": None,
                "created_by": self.bot_user_id,
                "updated_by": self.bot_user_id,
                "deleted_by": None,
                "prefs": {"channels": [], "groups": []},
            }
            if include_users:
                obj["users"] = list(group.users)
            if include_count:
                obj["user_count"] = len(group.users)
            groups.append(obj)
        return {"usergroups": groups}

    # ---------------------------------------------------------------- views.*

    def _view_arg(self, params: dict[str, Any], *, allowed_types: tuple[str, ...]) -> dict[str, Any]:
        raw = params.get("view")

        def invalid(*messages: str) -> _ApiError:
            return _ApiError(
                "invalid_arguments", response_metadata={"messages": [f"[ERROR] {m}" for m in messages]}
            )

        if raw is None or raw == "":
            raise invalid("missing required field: view")
        try:
            view = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
        except ValueError as error:
            raise invalid("failed to match all allowed schemas [json-pointer:/view]") from error
        if not isinstance(view, dict):
            raise invalid("failed to match all allowed schemas [json-pointer:/view]")
        errors: list[str] = []
        kind = view.get("type")
        if kind not in allowed_types:
            errors.append(f"must be one of {', '.join(allowed_types)} [json-pointer:/view/type]")
        blocks = view.get("blocks")
        if not isinstance(blocks, list):
            errors.append("missing required field: blocks [json-pointer:/view]")
        else:
            errors.extend(_block_errors(blocks, "/view/blocks", VIEW_BLOCK_LIMIT))
        if kind == "modal":
            if _text_of(view.get("title")) is None:
                errors.append("missing required field: title [json-pointer:/view]")
            for key in ("title", "submit", "close"):
                text = _text_of(view.get(key))
                if text is not None and len(text) > VIEW_TITLE_LIMIT:
                    errors.append(
                        f"must be less than {VIEW_TITLE_LIMIT + 1} characters [json-pointer:/view/{key}/text]"
                    )
        metadata = view.get("private_metadata")
        if isinstance(metadata, str) and len(metadata) > PRIVATE_METADATA_LIMIT:
            limit = PRIVATE_METADATA_LIMIT + 1
            errors.append(f"must be less than {limit} characters [json-pointer:/view/private_metadata]")
        for key in ("callback_id", "external_id"):
            value = view.get(key)
            if isinstance(value, str) and len(value) > 255:
                errors.append(f"must be less than 256 characters [json-pointer:/view/{key}]")
        if errors:
            raise invalid("failed to match all allowed schemas [json-pointer:/view]", *errors)
        return view

    def _check_external_id(self, view: dict[str, Any], own_id: str | None) -> None:
        external_id = view.get("external_id")
        if not external_id:
            return
        for other in self._views.values():
            if other.get("external_id") == external_id and other["id"] != own_id:
                raise _ApiError("duplicate_external_id")

    def _store_view(
        self,
        method: str,
        view: dict[str, Any],
        *,
        view_id: str | None = None,
        root_view_id: str | None = None,
        previous_view_id: str | None = None,
        trigger_id: str | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        view_id = view_id or self._next_id("V")
        stored: dict[str, Any] = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view.get("type"),
            "blocks": _with_block_ids(view.get("blocks", [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "root_view_id": root_view_id or view_id,
            "previous_view_id": previous_view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        for key in ("title", "submit", "close"):
            if key in view:
                stored[key] = copy.deepcopy(view[key])
            elif view.get("type") == "modal":
                stored[key] = None
        self._views[view_id] = stored
        self._view_log.append(
            ViewRecord(
                method=method,
                view=copy.deepcopy(stored),
                at=time.time(),
                trigger_id=trigger_id,
                user_id=user_id,
            )
        )
        return {"view": copy.deepcopy(stored)}

    @staticmethod
    def _trigger(params: dict[str, Any]) -> str:
        trigger_id = _as_str(params.get("trigger_id")) or _as_str(params.get("interactivity_pointer"))
        if not trigger_id:
            raise _ApiError("invalid_arguments", response_metadata={"messages": ["invalid `trigger_id`"]})
        return trigger_id

    def _views_open(self, request: _Request) -> dict[str, Any]:
        trigger_id = self._trigger(request.params)
        view = self._view_arg(request.params, allowed_types=("modal",))
        self._check_external_id(view, None)
        return self._store_view("views.open", view, trigger_id=trigger_id)

    def _views_push(self, request: _Request) -> dict[str, Any]:
        trigger_id = self._trigger(request.params)
        view = self._view_arg(request.params, allowed_types=("modal",))
        self._check_external_id(view, None)
        return self._store_view("views.push", view, trigger_id=trigger_id)

    def _views_update(self, request: _Request) -> dict[str, Any]:
        params = request.params
        view_id = _as_str(params.get("view_id"))
        external_id = _as_str(params.get("external_id"))
        if not view_id and not external_id:
            raise _ApiError(
                "invalid_arguments",
                response_metadata={"messages": ["[ERROR] either view_id or external_id is required"]},
            )
        view = self._view_arg(params, allowed_types=("modal", "home"))
        current = self._views.get(view_id or "")
        if current is None and external_id:
            current = next((v for v in self._views.values() if v.get("external_id") == external_id), None)
        if current is None:
            raise _ApiError("not_found")
        expected_hash = _as_str(params.get("hash"))
        if expected_hash and expected_hash != current["hash"]:
            raise _ApiError("hash_conflict")
        self._check_external_id(view, current["id"])
        user_id = next((u for u, v in self._home_views.items() if v == current["id"]), None)
        return self._store_view(
            "views.update",
            view,
            view_id=current["id"],
            root_view_id=current["root_view_id"],
            previous_view_id=current["previous_view_id"],
            user_id=user_id,
        )

    def _views_publish(self, request: _Request) -> dict[str, Any]:
        params = request.params
        user_id = _as_str(params.get("user_id")) or ""
        if user_id not in self._users:
            raise _ApiError("user_not_found")
        view = self._view_arg(params, allowed_types=("home",))
        existing = self._home_views.get(user_id)
        expected_hash = _as_str(params.get("hash"))
        if expected_hash and existing and expected_hash != self._views[existing]["hash"]:
            raise _ApiError("hash_conflict")
        self._check_external_id(view, existing)
        result = self._store_view("views.publish", view, view_id=existing, user_id=user_id)
        self._home_views[user_id] = result["view"]["id"]
        return result

    # ---------------------------------------------------------------- files.*

    def _files_get_upload_url_external(self, request: _Request) -> dict[str, Any]:
        params = request.params
        filename = _as_str(params.get("filename"))
        if not filename:
            raise _ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing filename"]})
        try:
            length = int(params.get("length") or 0)
        except (TypeError, ValueError) as error:
            raise _ApiError("invalid_arguments") from error
        if length <= 0:
            raise _ApiError("missing_argument")
        alt_txt = _as_str(params.get("alt_txt"))
        if alt_txt is not None and len(alt_txt) > 1000:
            raise _ApiError("alt_txt_too_large")
        file_id = self._next_id("F")
        key = secrets.token_urlsafe(16)
        self._files[file_id] = FakeFile(
            id=file_id,
            filename=filename,
            length=length,
            alt_txt=alt_txt,
            snippet_type=_as_str(params.get("snippet_type")),
            upload_key=key,
            created=int(time.time()),
        )
        self._uploads[key] = file_id
        return {"upload_url": f"{self.base_url}/upload/v1/{key}", "file_id": file_id}

    def _handle_upload(self, key: str, headers: dict[str, str], body: bytes) -> _HttpResult:
        content_type = headers.get("content-type", "")
        data = body
        if content_type.lower().startswith("multipart/form-data"):
            try:
                parts = _parse_multipart(content_type, body)
            except _ApiError:
                return _text_result(400, "invalid multipart body")
            chosen = parts.get("file", parts.get("filename"))
            if not isinstance(chosen, bytes):
                chosen = next((v for v in parts.values() if isinstance(v, bytes)), None)
            if chosen is None:
                return _text_result(400, "no file part")
            data = chosen
        with self._lock:
            file_id = self._uploads.get(key)
            if file_id is None:
                return _text_result(404, "Not Found")
            self._files[file_id].content = data
            self._changed.notify_all()
        return _text_result(200, f"OK - {len(data)}")

    def _file_obj(self, f: FakeFile) -> dict[str, Any]:
        mimetype = mimetypes.guess_type(f.filename)[0] or "application/octet-stream"
        filetype = f.filename.rsplit(".", 1)[-1].lower() if "." in f.filename else "binary"
        quoted = urllib.parse.quote(f.filename)
        private = f"https://files.slack.com/files-pri/{self.team_id}-{f.id}/{quoted}"
        obj: dict[str, Any] = {
            "id": f.id,
            "created": f.created,
            "timestamp": f.created,
            "name": f.filename,
            "title": f.title or f.filename,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": self.bot_user_id,
            "user_team": self.team_id,
            "editable": False,
            "size": len(f.content or b""),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": bool(f.channel_id or f.channels),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": private,
            "url_private_download": f"https://files.slack.com/files-pri/{self.team_id}-{f.id}/download/{quoted}",
            "permalink": f"https://{self.team_domain}.slack.com/files/{self.bot_user_id}/{f.id}/{quoted}",
            "permalink_public": f"https://slack-files.com/{self.team_id}-{f.id}-{secrets.token_hex(5)}",
            "comments_count": 0,
            "is_starred": False,
            # Slack shares asynchronously: the completion answer's shares/channels are empty.
            "shares": {},
            "channels": [],
            "groups": [],
            "ims": [],
            "has_more_shares": False,
            "has_rich_preview": False,
            "file_access": "visible",
        }
        if f.alt_txt is not None:
            obj["alt_txt"] = f.alt_txt
        return obj

    def _files_complete_upload_external(self, request: _Request) -> dict[str, Any]:
        params = request.params
        files_arg = self._json_arg(params, "files", "invalid_arguments")
        if not isinstance(files_arg, list) or not files_arg:
            raise _ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing files"]})
        channel_id = _as_str(params.get("channel_id"))
        channels_arg = _as_str(params.get("channels"))
        channel_ids = [c.strip() for c in (channels_arg or "").split(",") if c.strip()]
        if channel_id:
            channel_ids = [channel_id, *[c for c in channel_ids if c != channel_id]]
        targets: list[_Channel] = []
        for cid in channel_ids:
            target = self._channels.get(cid)
            if target is None or (
                target.kind == "channel" and target.is_private and not target.bot_is_member
            ):
                raise _ApiError("invalid_channel")
            if target.kind == "channel" and not target.bot_is_member:
                raise _ApiError("not_in_channel")
            targets.append(target)
        chosen: list[tuple[FakeFile, str | None]] = []
        for item in files_arg:
            file_id = item.get("id") if isinstance(item, dict) else None
            f = self._files.get(file_id) if isinstance(file_id, str) else None
            if f is None or not f.uploaded or f.completed:
                raise _ApiError("file_not_found")
            title = item.get("title") if isinstance(item, dict) else None
            chosen.append((f, title if isinstance(title, str) else None))
        initial_comment = _as_str(params.get("initial_comment"))
        thread_ts = _as_str(params.get("thread_ts"))
        for f, title in chosen:
            f.title = title or f.filename
            f.completed = True
            f.channel_id = channel_id
            f.channels = [t.id for t in targets]
            f.initial_comment = initial_comment
            f.thread_ts = thread_ts
        file_objs = [self._file_obj(f) for f, _ in chosen]
        for target in targets:
            content: dict[str, Any] = {
                "text": initial_comment or "",
                "files": copy.deepcopy(file_objs),
                "upload": True,
            }
            message = self._bot_message(self._next_ts(), content)
            if thread_ts:
                message["thread_ts"] = thread_ts
            self._messages.setdefault(target.id, []).append(message)
        return {"files": file_objs}

    # ---------------------------------------------------------------- reactions.*

    def _reactions_add(self, request: _Request) -> dict[str, Any]:
        params = request.params
        name = (_as_str(params.get("name")) or "").strip(":")
        channel = _as_str(params.get("channel"))
        timestamp = _as_str(params.get("timestamp"))
        if not channel or not timestamp:
            raise _ApiError("no_item_specified")
        if not name or any(c.isspace() for c in name):
            raise _ApiError("invalid_name")
        target = self._channel_for_read(channel)
        message = self._find_message(target.id, timestamp)
        reactions: list[dict[str, Any]] = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if self.bot_user_id in reaction["users"]:
                    raise _ApiError("already_reacted")
                reaction["users"].append(self.bot_user_id)
                reaction["count"] += 1
                return {}
        reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        return {}

    # ---------------------------------------------------------------- response_url

    def _handle_response_url(self, key: str, body: bytes) -> _HttpResult:
        with self._lock:
            state = self._response_urls.setdefault(key, _ResponseUrl(key=key))
            if state.uses >= RESPONSE_URL_MAX_USES:
                return _text_result(404, "used_url")
            try:
                payload = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return _text_result(400, "invalid_payload")
            if not isinstance(payload, dict):
                return _text_result(400, "invalid_payload")
            deleting = _as_bool(payload.get("delete_original"))
            has_content = any(payload.get(key) for key in ("text", "blocks", "attachments"))
            if not deleting and not has_content:
                return _text_result(400, "no_text")
            state.uses += 1
            state.payloads.append(payload)
            self._apply_response(state, payload)
            self._changed.notify_all()
        return _json_result(200, {"ok": True})

    def _apply_response(self, state: _ResponseUrl, payload: dict[str, Any]) -> None:
        target = self._lookup_channel(state.channel) if state.channel else None
        if target is None:
            return
        messages = self._messages.setdefault(target.id, [])
        original = next((m for m in messages if m.get("ts") == state.message_ts), None)
        content: dict[str, Any] = {
            key: copy.deepcopy(payload[key]) for key in ("text", "blocks", "attachments") if key in payload
        }
        if "blocks" in content and isinstance(content["blocks"], list):
            content["blocks"] = _with_block_ids(content["blocks"])
        if _as_bool(payload.get("delete_original")):
            if original is not None:
                messages.remove(original)
        elif _as_bool(payload.get("replace_original")):
            if original is not None:
                original.update(content)
        elif payload.get("response_type") == "in_channel":
            message = self._bot_message(self._next_ts(), content)
            if payload.get("thread_ts"):
                message["thread_ts"] = payload["thread_ts"]
            messages.append(message)
