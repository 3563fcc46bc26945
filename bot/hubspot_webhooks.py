"""POST /hubspot/webhooks: HubSpot's v3 request signature and the deal ids a batch of events names.

Signature v3 (HubSpot's "Validating requests"): base64(HMAC-SHA256(client secret,
method + URI + raw body + X-HubSpot-Request-Timestamp)), the timestamp in epoch milliseconds and
at most 5 minutes old. The URI is the one HubSpot called, e.g. `https://bot.acme.com/hubspot/webhooks`,
with the URL-encoded characters HubSpot lists decoded. Behind a TLS-terminating proxy the server sees
`http://` and maybe another host, so the URI is also tried with `X-Forwarded-Proto`/`-Host`: a
forged header only changes which URI a signature is checked against, never lets one pass without
the secret.

A replay of a signed request inside the window is accepted on purpose: all it can do is make
Drumbeat re-read those deals from HubSpot (never trusting the payload), and the refresher merges
repeated ids, so replays cost at most one batch read per burst. Recording each signature would put
a database write before every answer instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from wsgiref.types import WSGIEnvironment

SIGNATURE_HEADER = "x-hubspot-signature-v3"
TIMESTAMP_HEADER = "x-hubspot-request-timestamp"
WINDOW = timedelta(minutes=5)
DEAL_OBJECT_TYPE = "0-3"  # generic `object.*` subscriptions name the object type by id
# HubSpot decodes these before signing the URI (its documented list).
_DECODED = {
    "3a": ":",
    "2f": "/",
    "3f": "?",
    "40": "@",
    "21": "!",
    "24": "$",
    "27": "'",
    "28": "(",
    "29": ")",
    "2a": "*",
    "2c": ",",
    "3b": ";",
}
_ENCODED = re.compile(r"%(3[AaFfBb]|2[FfAaCc]|40|21|24|27|28|29)")
# Association changes touch no field the mirror keeps.
_IGNORED_EVENTS = ("associationChange",)


class MalformedEvents(ValueError):
    """The body is not a JSON array of events; the message says what is wrong (and is safe to send)."""


def signature_v3(secret: str, *, method: str, uri: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + uri.encode("utf-8") + body + timestamp.encode()
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def timestamp_fresh(timestamp: str, now: datetime) -> bool:
    """Epoch milliseconds within WINDOW of now (either way: a clock far ahead is as suspect)."""
    if not timestamp.isdigit() or len(timestamp) > 15:
        return False
    now_ms = int(now.timestamp() * 1000)
    return abs(now_ms - int(timestamp)) <= WINDOW // timedelta(milliseconds=1)


def signature_matches(
    secret: str, *, method: str, uris: Sequence[str], body: bytes, timestamp: str, signature: str
) -> bool:
    """Constant-time comparison against each candidate URI (all are computed, whatever matches)."""
    given = signature.strip().encode("utf-8", "replace")
    matched = False
    for uri in uris:
        expected = signature_v3(secret, method=method, uri=uri, body=body, timestamp=timestamp).encode()
        matched |= hmac.compare_digest(expected, given)
    return bool(given) and matched


def request_uris(environ: WSGIEnvironment, headers: Mapping[str, object]) -> list[str]:
    """The URIs HubSpot may have signed: as this server received the request, and as forwarded."""
    raw = str(environ.get("REQUEST_URI") or "")
    if raw.startswith(("http://", "https://")):  # an absolute-form request target
        parts = urlsplit(raw)
        raw = parts.path + (f"?{parts.query}" if parts.query else "")
    if not raw.startswith("/"):
        raw = quote(str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", "")))
        query = str(environ.get("QUERY_STRING", ""))
        raw += f"?{query}" if query else ""
    target = _ENCODED.sub(lambda m: _DECODED[m.group(1).lower()], raw)
    scheme = str(environ.get("wsgi.url_scheme") or "http")
    host = str(headers.get("host") or "") or _server_host(environ, scheme)
    uris = [f"{scheme}://{host}{target}"]
    forwarded_proto = _first(headers.get("x-forwarded-proto"))
    forwarded_host = _first(headers.get("x-forwarded-host"))
    if forwarded_proto or forwarded_host:
        forwarded = f"{forwarded_proto or scheme}://{forwarded_host or host}{target}"
        if forwarded not in uris:
            uris.append(forwarded)
    return uris


def _server_host(environ: WSGIEnvironment, scheme: str) -> str:
    name, port = str(environ.get("SERVER_NAME", "")), str(environ.get("SERVER_PORT", ""))
    default = "443" if scheme == "https" else "80"
    return name if not port or port == default else f"{name}:{port}"


def _first(value: object) -> str:
    return str(value or "").split(",")[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Events:
    deal_ids: list[str]  # in order of first mention, each once
    total: int  # events in the body
    ignored: int  # events about other objects, or with no usable id


def deal_ids_from(body: bytes) -> Events:
    """The deals a batch of webhook events names; never their property values (the CRM is read instead)."""
    try:
        events = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise MalformedEvents("the body is not valid JSON: HubSpot sends a JSON array of events") from None
    if not isinstance(events, list):
        raise MalformedEvents("the body must be a JSON array of events")
    ids: dict[str, None] = {}
    ignored = 0
    for event in events:
        named = _deal_ids_of(event) if isinstance(event, dict) else []
        if not named:
            ignored += 1
        ids.update(dict.fromkeys(named))
    return Events(deal_ids=list(ids), total=len(events), ignored=ignored)


def _deal_ids_of(event: dict[str, object]) -> list[str]:
    kind = str(event.get("subscriptionType") or "")
    prefix, _, action = kind.partition(".")
    is_deal = prefix == "deal" or (prefix == "object" and str(event.get("objectTypeId")) == DEAL_OBJECT_TYPE)
    if not is_deal or action in _IGNORED_EVENTS:
        return []
    # A merge names the surviving deal and the merged ones (which the CRM no longer returns).
    candidates: list[object] = [event.get("objectId"), event.get("newObjectId")]
    merged = event.get("mergedObjectIds")
    if isinstance(merged, list):
        candidates.extend(merged)
    return [i for i in (_object_id(c) for c in candidates) if i is not None]


def _object_id(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value > 0:
        return str(value)
    if isinstance(value, str) and value.isdigit() and len(value) <= 20:
        return str(int(value))
    return None
