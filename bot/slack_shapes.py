"""What a signed Slack request must look like before Bolt sees it.

Slack signs whatever it sends, so a signature proves where a request came from, not that it is
well formed. A request that is not shaped like Slack's (a `payload` that is not a JSON object, an
empty `actions`, a view without `state`, no user, an id longer than our columns, a control
character in an id) is answered 400 here, with one log line, instead of failing in a listener.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from typing import Any

__all__ = ["MAX_ID", "MalformedRequest", "check_request", "valid_id"]

MAX_ID = 32  # Slack user ids are stored in String(32) columns
_ID = re.compile(r"[A-Z0-9][A-Z0-9_.-]*")
_MAX_VALUE = 2000  # Slack's limit on a button's or an option's value
_MAX_URL = 2000


class MalformedRequest(ValueError):
    """A signed request that is not shaped like Slack's; the message says what is wrong."""


def valid_id(value: object, *, max_length: int = MAX_ID) -> bool:
    """A Slack id: `U0ALICE`, `W123`, `T0TEAM` — upper-case letters and digits, within our columns."""
    return isinstance(value, str) and 0 < len(value) <= max_length and _ID.fullmatch(value) is not None


def check_request(body: str, content_type: str) -> None:
    """Raise `MalformedRequest` unless `body` is shaped like a slash command, an interaction or an event."""
    if content_type.split(";")[0].strip().lower() == "application/json":
        _check_event(_json_object(body, "the body"))
        return
    form = urllib.parse.parse_qs(body, keep_blank_values=True)
    if "payload" in form:
        _check_interaction(_json_object(_single(form, "payload"), "payload"))
    elif "command" in form:
        _check_command(form)
    elif "ssl_check" not in form:
        raise MalformedRequest("neither a command, an interaction nor an event")


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        loaded = json.loads(text)
    except ValueError:
        raise MalformedRequest(f"{what} is not JSON") from None
    if not isinstance(loaded, dict):
        raise MalformedRequest(f"{what} is not a JSON object")
    return loaded


def _single(form: dict[str, list[str]], name: str) -> str:
    values = form[name]
    if len(values) != 1:
        raise MalformedRequest(f"`{name}` is given {len(values)} times")
    return values[0]


def _check_command(form: dict[str, list[str]]) -> None:
    for name in ("command", "user_id"):
        if name not in form:
            raise MalformedRequest(f"a command without `{name}`")
    if not _single(form, "command").startswith("/"):
        raise MalformedRequest("`command` does not start with /")
    if not valid_id(_single(form, "user_id")):
        raise MalformedRequest("`user_id` is not a Slack user id")
    if "text" in form:
        _single(form, "text")  # checked for control characters by the grammar, with a clear answer
    if "response_url" in form:
        _check_url(_single(form, "response_url"), "response_url")


def _check_url(value: object, what: str) -> None:
    if not isinstance(value, str) or len(value) > _MAX_URL:
        raise MalformedRequest(f"`{what}` is not a URL")
    try:
        parsed = urllib.parse.urlsplit(value) if value.isprintable() else None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parsed = None
    if value and (parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc):
        raise MalformedRequest(f"`{what}` is not a URL")


def _check_user(payload: dict[str, Any]) -> None:
    user = payload.get("user")
    if not isinstance(user, dict) or not valid_id(user.get("id")):
        raise MalformedRequest("no Slack user id")


def _dict(parent: dict[str, Any], key: str, *, required: bool = False) -> dict[str, Any]:
    value = parent.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise MalformedRequest(f"`{key}` is not an object")
    return value


def _string(
    parent: dict[str, Any], key: str, *, required: bool = False, limit: int = _MAX_VALUE, typed: bool = False
) -> None:
    """`typed`: text a person typed, whose control characters the core refuses with a clear answer."""
    value = parent.get(key)
    if value is None and not required:
        return
    if not isinstance(value, str) or len(value) > limit or not (typed or value.isprintable()):
        raise MalformedRequest(f"`{key}` is not a short printable string")


def _check_interaction(payload: dict[str, Any]) -> None:
    kind = payload.get("type")
    if not isinstance(kind, str):
        raise MalformedRequest("an interaction without a type")
    _check_user(payload)
    for key in ("trigger_id", "callback_id"):
        _string(payload, key)
    if "response_url" in payload:
        _check_url(payload["response_url"], "response_url")
    for key in ("team", "channel", "container"):
        _dict(payload, key)
    if kind == "block_actions":
        _check_actions(payload)
    if kind in ("view_submission", "view_closed"):
        _check_view(_dict(payload, "view", required=True), submitted=kind == "view_submission")
    elif "view" in payload:
        _check_view(_dict(payload, "view"), submitted=False)


def _check_actions(payload: dict[str, Any]) -> None:
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions:
        raise MalformedRequest("`actions` is not a non-empty list")
    for action in actions:
        if not isinstance(action, dict):
            raise MalformedRequest("an action is not an object")
        _string(action, "action_id", required=True, limit=255)
        _string(action, "block_id", limit=255)
        # A button's value is checked by its listener, which answers the person clearly.
        if "selected_option" in action:
            _string(_dict(action, "selected_option", required=True), "value", required=True)
    message = _dict(payload, "message")
    blocks = message.get("blocks", [])
    if not isinstance(blocks, list) or not all(isinstance(block, dict) for block in blocks):
        raise MalformedRequest("`message.blocks` is not a list of blocks")
    _string(message, "ts", limit=64)


def _check_view(view: dict[str, Any], *, submitted: bool) -> None:
    _string(view, "callback_id", limit=255)
    if not isinstance(view.get("private_metadata", ""), str):
        raise MalformedRequest("`private_metadata` is not a string")
    state = _dict(view, "state", required=submitted)
    values = _dict(state, "values", required=submitted)
    for block in values.values():
        if not isinstance(block, dict) or not all(isinstance(element, dict) for element in block.values()):
            raise MalformedRequest("a view's state is not made of blocks of elements")
        for element in block.values():
            _string(element, "selected_date", limit=10)
            _string(element, "value", limit=_MAX_VALUE * 3, typed=True)
            if element.get("selected_option") is not None:
                _string(_dict(element, "selected_option"), "value", required=True)


def _check_event(envelope: dict[str, Any]) -> None:
    kind = envelope.get("type")
    if kind == "url_verification":
        _string(envelope, "challenge", required=True, limit=255)
        return
    # Bolt reads `event` from any envelope, whatever its type: it must be an object if present.
    event = _dict(envelope, "event", required=kind == "event_callback")
    if kind != "event_callback":
        if not isinstance(kind, str):
            raise MalformedRequest("an event without a type")
        return  # app_rate_limited and the like: Bolt answers them
    if not isinstance(event.get("type"), str):
        raise MalformedRequest("an event without a type")
    if "user" in event and not valid_id(event["user"]) and not isinstance(event["user"], dict):
        raise MalformedRequest("`event.user` is not a Slack user id")
    _string(event, "tab", limit=32)
