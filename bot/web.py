"""The HTTP surface of `serve`: POST /slack/events, GET /healthz, GET /metrics, and POST /hubspot/webhooks
when HUBSPOT_WEBHOOK_SECRET is set. Nothing else answers.

A plain WSGI application, so any production WSGI server can run it (waitress by default).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from bot.hubspot_webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    MalformedEvents,
    deal_ids_from,
    request_uris,
    signature_matches,
    timestamp_fresh,
)
from bot.replay_guard import ReplayGuard
from bot.slack_shapes import MalformedRequest, check_request
from core.clock import Clock
from core.queues.foreground import Foreground
from handlers.errors import DATABASE_DOWN

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
HealthProbe = Callable[[], str | None]  # None when healthy, else the reason


@dataclass(frozen=True, slots=True)
class HealthProbes:
    """Each probe returns None when healthy or a short reason (never a secret)."""

    database: HealthProbe
    slack: HealthProbe
    crm: HealthProbe


class CachedProbe:
    """A remote check (Slack, CRM) refreshed in the background at most once per `ttl`.

    /healthz answers at once with the last result, so a hanging CRM can never tie up the threads
    that acknowledge Slack. The very first call waits briefly for a first answer.
    """

    def __init__(
        self,
        probe: HealthProbe,
        ttl: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
        first_wait: float = 5.0,
    ) -> None:
        self._probe = probe
        self._ttl = ttl
        self._monotonic = monotonic
        self._first_wait = first_wait
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._result: str | None = "not checked yet"
        self._refreshing: threading.Thread | None = None

    def __call__(self) -> str | None:
        with self._lock:
            stale = self._checked_at is None or self._monotonic() - self._checked_at >= self._ttl
            if stale and self._refreshing is None:
                self._refreshing = threading.Thread(target=self._refresh, name="health-probe", daemon=True)
                self._refreshing.start()
            first, refreshing = self._checked_at is None, self._refreshing
        if first and refreshing is not None:
            refreshing.join(timeout=self._first_wait)
        with self._lock:
            return self._result

    def _refresh(self) -> None:
        try:
            result = self._probe()
        except Exception as exc:  # noqa: BLE001 - a failed probe is a health answer, not a crash
            result = f"check failed ({type(exc).__name__})"
        with self._lock:
            self._result = result
            self._checked_at = self._monotonic()
            self._refreshing = None


class DatabaseOutage:
    """While the database is unreachable, Slack requests are answered at once without trying it,
    and the log says so once per backoff step (1 s, 2 s, 4 s … 60 s), not once per request."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic, cap: float = 60.0) -> None:
        self._monotonic = monotonic
        self._cap = cap
        self._lock = threading.Lock()
        self._retry_at: float | None = None  # None: the database is up
        self._step = 0.0
        self._refused = 0

    def skip(self) -> bool:
        """True while inside a backoff step: answer without trying the database."""
        with self._lock:
            if self._retry_at is None or self._monotonic() >= self._retry_at:
                return False
            self._refused += 1
            return True

    def failed(self, exc: DBAPIError) -> None:
        with self._lock:
            self._step = min(self._cap, self._step * 2 or 1.0)
            self._retry_at = self._monotonic() + self._step
            refused, self._refused = self._refused, 0
        log.error(
            "database unreachable (%s); Slack requests are answered that it is, next try in %.0f s "
            "(%d refused meanwhile)",
            type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
            self._step,
            refused,
        )

    def succeeded(self) -> None:
        if self._retry_at is None:  # the usual case: no lock, nothing to say
            return
        with self._lock:
            was_down, self._retry_at, self._step = self._retry_at is not None, None, 0.0
            refused, self._refused = self._refused, 0
        if was_down:
            log.warning("database reachable again (%d Slack requests refused while it was not)", refused)


@dataclass(frozen=True, slots=True)
class HubSpotWebhooks:
    """POST /hubspot/webhooks: the app's client secret, and where the deal ids go (a DealRefresher)."""

    secret: str
    refresh: Callable[[list[str]], None]


class WebApp:
    def __init__(
        self,
        bolt: App,
        *,
        signing_secret: str,
        replay_guard: ReplayGuard,
        health: HealthProbes,
        clock: Clock,
        foreground: Foreground | None = None,
        hubspot_webhooks: HubSpotWebhooks | None = None,
    ) -> None:
        self._bolt = bolt
        self._webhooks = hubspot_webhooks
        self._foreground = foreground or Foreground()
        self._verifier = SignatureVerifier(signing_secret)
        self._replay_guard = replay_guard
        self._health = health
        self._clock = clock
        self._outage = DatabaseOutage()
        self.registry = CollectorRegistry()
        self._slack_requests = Counter(
            "drumbeat_slack_requests",
            "Requests received at /slack/events, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self._ack_seconds = Histogram(
            "drumbeat_slack_ack_seconds",
            "Time from receiving a Slack request to its acknowledgement.",
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
        )
        self._webhook_requests = Counter(
            "drumbeat_hubspot_webhooks",
            "Requests received at /hubspot/webhooks, by outcome.",
            ["outcome"],
            registry=self.registry,
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/")
        routes = {"/slack/events": "POST", "/healthz": "GET", "/metrics": "GET"}
        if self._webhooks is not None:  # without the secret the path does not exist
            routes["/hubspot/webhooks"] = "POST"
        if path not in routes:
            return _text(start_response, 404, "Not Found")
        if method != routes[path] and not (method == "HEAD" and routes[path] == "GET"):
            return _text(start_response, 405, "Method Not Allowed", [("Allow", routes[path])])
        if path == "/healthz":
            return self._healthz(start_response)
        if path == "/metrics":
            return _respond(start_response, 200, generate_latest(self.registry), CONTENT_TYPE_LATEST)
        with self._foreground.request():
            if path == "/hubspot/webhooks" and self._webhooks is not None:
                return self._hubspot_webhooks(self._webhooks, environ, start_response)
            return self._slack_events(environ, start_response)

    def _hubspot_webhooks(
        self, webhooks: HubSpotWebhooks, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Verify, take the deal ids, hand them to the refresher, answer: well inside HubSpot's 5 s."""
        raw = _body(environ)
        if raw is None:
            self._webhook_requests.labels("bad_request").inc()
            return _text(start_response, 400, "Bad Request: missing or oversized body")
        headers = _headers(environ)
        timestamp = str(headers.get(TIMESTAMP_HEADER, "")).strip()
        if not timestamp_fresh(timestamp, self._clock()):
            self._webhook_requests.labels("stale").inc()
            log.warning("refused a HubSpot webhook with a missing or expired timestamp")
            return _text(start_response, 401, "Unauthorized")
        if not signature_matches(
            webhooks.secret,
            method=str(environ.get("REQUEST_METHOD", "POST")),
            uris=request_uris(environ, headers),
            body=raw,
            timestamp=timestamp,
            signature=str(headers.get(SIGNATURE_HEADER, "")),
        ):
            self._webhook_requests.labels("bad_signature").inc()
            log.warning(
                "refused a HubSpot webhook with a missing or wrong signature "
                "(HUBSPOT_WEBHOOK_SECRET must be the app's client secret, and the target URL the public one)"
            )
            return _text(start_response, 401, "Unauthorized")
        try:
            events = deal_ids_from(raw)
        except MalformedEvents as exc:
            self._webhook_requests.labels("bad_request").inc()
            return _text(start_response, 400, f"Bad Request: {exc}")
        if events.deal_ids:
            webhooks.refresh(events.deal_ids)
        self._webhook_requests.labels("accepted").inc()
        log.info(
            "HubSpot webhook accepted",
            extra={"events": events.total, "deals": len(events.deal_ids), "ignored": events.ignored},
        )
        return _text(start_response, 200, "OK")

    def _slack_events(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        raw = _body(environ)
        if raw is None:
            self._slack_requests.labels("bad_request").inc()
            return _text(start_response, 400, "Bad Request")
        headers = _headers(environ)
        body = raw.decode("utf-8", "replace")
        timestamp = str(headers.get("x-slack-request-timestamp", ""))
        signature = str(headers.get("x-slack-signature", ""))
        if not timestamp.isdigit() or not self._verifier.is_valid(
            body=body, timestamp=timestamp, signature=signature
        ):
            self._slack_requests.labels("bad_signature").inc()
            log.warning("refused a Slack request with a missing, wrong or expired signature")
            return _text(start_response, 401, "Unauthorized")
        try:
            check_request(body, str(headers.get("content-type", "")))
        except MalformedRequest as exc:  # signed, so Slack's (or a bug's): say what, no traceback
            self._slack_requests.labels("malformed").inc()
            log.warning("refused a malformed Slack request: %s", exc)
            return _text(start_response, 400, f"Bad Request: {exc}")
        if self._outage.skip():
            return self._database_down(body, start_response)
        try:
            if not self._replay_guard.first_use(signature, self._clock()):
                self._slack_requests.labels("replayed").inc()
                log.warning("refused a replayed Slack request")
                return _text(start_response, 401, "Unauthorized")
        except (OperationalError, InterfaceError) as exc:
            self._outage.failed(exc)
            return self._database_down(body, start_response)
        self._outage.succeeded()
        query = environ.get("QUERY_STRING", "")
        try:
            response = self._bolt.dispatch(BoltRequest(body=body, query=query, headers=headers))
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # Bolt's own reading of a request that passed the shape check: still a malformed request.
            self._slack_requests.labels("malformed").inc()
            log.warning("refused a Slack request Bolt could not read: %s: %s", type(exc).__name__, exc)
            return _text(start_response, 400, "Bad Request")
        self._slack_requests.labels("accepted").inc()
        self._ack_seconds.observe(time.perf_counter() - started)
        out_headers = [(k, v) for k, values in response.headers.items() for v in values]
        payload = response.body.encode("utf-8") if isinstance(response.body, str) else response.body
        start_response(_status_line(response.status), [*out_headers, ("Content-Length", str(len(payload)))])
        return [payload]

    def _database_down(self, body: str, start_response: StartResponse) -> Iterable[bytes]:
        """A slash command's answer is shown to its person; anything else gets a 503."""
        self._slack_requests.labels("database_down").inc()
        if "command" in urllib.parse.parse_qs(body):
            answer = json.dumps({"response_type": "ephemeral", "text": DATABASE_DOWN}).encode()
            return _respond(start_response, 200, answer, "application/json")
        return _text(start_response, 503, DATABASE_DOWN)

    def _healthz(self, start_response: StartResponse) -> Iterable[bytes]:
        checks = {
            "database": self._health.database(),
            "slack": self._health.slack(),
            "crm": self._health.crm(),
        }
        healthy = all(reason is None for reason in checks.values())
        report = {
            "status": "ok" if healthy else "unavailable",
            "checks": {name: reason or "ok" for name, reason in checks.items()},
        }
        return _respond(
            start_response, 200 if healthy else 503, json.dumps(report).encode(), "application/json"
        )


def _body(environ: WSGIEnvironment) -> bytes | None:
    """The raw body, or None when Content-Length is malformed or over MAX_BODY_BYTES."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length < 0 or length > MAX_BODY_BYTES:
        return None
    return bytes(environ["wsgi.input"].read(length)) if length else b""


def _headers(environ: WSGIEnvironment) -> dict[str, str | Sequence[str]]:
    headers: dict[str, str | Sequence[str]] = {
        k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    return headers


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}


def _status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, 'Service Unavailable' if status == 503 else 'Status')}"


def _respond(
    start_response: StartResponse,
    status: int,
    payload: bytes,
    content_type: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(payload))), *(extra or [])]
    start_response(_status_line(status), headers)
    return [payload]


def _text(
    start_response: StartResponse, status: int, text: str, extra: list[tuple[str, str]] | None = None
) -> list[bytes]:
    return _respond(start_response, status, text.encode(), "text/plain; charset=utf-8", extra)
