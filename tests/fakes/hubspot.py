"""A local, stdlib-only HTTP fake of HubSpot's CRM API v3.

The fake is a real HTTP server (``ThreadingHTTPServer`` on ``127.0.0.1``, random
port, daemon thread) so the *real* ``hubspot-api-client`` (urllib3) and httpx
talk to it exactly as they would to ``https://api.hubapi.com``: same paths,
status codes, JSON bodies, error bodies and pagination cursors.

Typical use::

    with FakeHubSpot() as fake:
        fake.add_default_pipeline()
        deal_id = fake.add_deal(dealname="Acme", dealstage="qualifiedtobuy", amount="5000")
        client = hubspot.HubSpot(access_token=fake.token, host=fake.url)
        client.crm.deals.basic_api.get_by_id(deal_id)

Supported endpoints: deals list/get/update/search/batch read/batch update,
notes create/batch create/get/list/search, deal pipelines, deal property definitions, owners.
Everything else is a HubSpot-style 404.

Behaviour worth knowing:

* Timestamps are rendered like Java's ``Instant.toString()`` (which HubSpot
  uses): ``2026-11-20T09:15:02.123Z``, with the fraction omitted when the
  milliseconds are exactly zero (``2026-11-20T09:15:02Z``).
* ``clock`` drives every server-side write; each write gets a timestamp at
  least one millisecond later than the previous one, so
  ``hs_lastmodifieddate`` is strictly increasing even with a frozen clock.
* Deal stage validation (``dealstage`` must belong to the deal's pipeline) is
  active once at least one pipeline exists; ``hubspot_owner_id`` is validated
  once at least one owner exists.
* Search sorts given as dicts or as a bare property name (``"-name"`` for
  descending) are honoured; a JSON-encoded string is ignored (not sorted), as
  real HubSpot does.
* Batch update with one invalid value refuses the whole batch with 400 (``context.ids`` names
  the refused inputs unless ``batch_errors_name_ids`` is off); with ``partial_batches`` it
  answers 207 Multi-Status, applying the valid inputs, one error per refused input
  (``context.ids``). Ids that do not exist are always a 207 ``OBJECT_NOT_FOUND`` error.
  Notes batch create is all or nothing (400 naming the bad input's problem); with
  ``partial_batches``, inputs with an ``objectWriteTraceId`` get a 207 naming the refused ones.
* Search keeps an index (live records in id order, parsed number/datetime
  values) that the fake's write paths keep up to date; change records through
  the state helpers or the API, not by editing ``fake.deals`` dicts in place.
* Rate limits: every non-search answer carries ``X-HubSpot-RateLimit-*`` headers
  for the portal's 10-second window (``allowance``) and day (``daily_allowance``);
  search answers carry none. ``other_integration_share`` makes "another
  integration" hold that share of every window, so ``Remaining`` shows it;
  ``enforce_rate_limit=True`` answers 429 (TEN_SECONDLY_ROLLING) once the portal's
  total would pass the allowance, ``search_in_window=True`` counts searches in it
  too, and ``enforce_search_rate=True`` holds searches to 5 a second. Windows run
  on ``monotonic`` (assign a test's clock) and shrink by ``time_scale`` (10 makes
  the 10-second window 1 s and says so in ``Interval-Milliseconds``).
  ``refused`` counts the 429s answered.
"""

from __future__ import annotations

import bisect
import fnmatch
import json
import math
import operator
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import compress
from typing import Any, Final, NamedTuple
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "ALL_SCOPES",
    "DEALS_READ",
    "DEALS_WRITE",
    "NOTES_READ",
    "NOTES_WRITE",
    "OWNERS_READ",
    "SCHEMAS_DEALS_READ",
    "FakeHubSpot",
    "RecordedRequest",
    "Stage",
    "format_instant",
    "parse_instant",
]

JSON = dict[str, Any]

LIST_LIMIT_MAX: Final = 100
OWNERS_LIMIT_MAX: Final = 500
SEARCH_LIMIT_MAX: Final = 200
SEARCH_RESULT_CAP: Final = 10_000
BATCH_INPUT_MAX: Final = 100
MAX_FILTER_GROUPS: Final = 5
MAX_FILTERS_PER_GROUP: Final = 6
MAX_FILTERS_TOTAL: Final = 18
SEARCH_REQUESTS_PER_SECOND: Final = 5
NOTE_TO_DEAL_TYPE_ID: Final = 214
RATE_LIMIT_MAX_PER_10S: Final = 190
RATE_LIMIT_DAILY: Final = 625_000

DEALS_READ: Final = "crm.objects.deals.read"
DEALS_WRITE: Final = "crm.objects.deals.write"
OWNERS_READ: Final = "crm.objects.owners.read"
# Notes (engagements) are gated by the contacts scopes.
NOTES_READ: Final = "crm.objects.contacts.read"
NOTES_WRITE: Final = "crm.objects.contacts.write"
# Property definitions: HubSpot accepts either this or the object scope (crm.objects.deals.read).
SCHEMAS_DEALS_READ: Final = "crm.schemas.deals.read"
ALL_SCOPES: Final = frozenset(
    {DEALS_READ, DEALS_WRITE, OWNERS_READ, NOTES_READ, NOTES_WRITE, SCHEMAS_DEALS_READ}
)

_JSON_CONTENT_TYPE: Final = "application/json;charset=utf-8"
_AUTH_MESSAGE: Final = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
_SCOPES_MESSAGE: Final = (
    "This app hasn't been granted all required scopes to make this call. Read more about "
    "required scopes here: https://developers.hubspot.com/scopes."
)
_GATEWAY_HTML: Final = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_REASONS: Final = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
_CATEGORIES: Final = {
    400: "VALIDATION_ERROR",
    401: "INVALID_AUTHENTICATION",
    403: "MISSING_SCOPES",
    404: "OBJECT_NOT_FOUND",
    409: "CONFLICT",
    423: "LOCKED",
    429: "RATE_LIMIT",
}

_OPERATORS: Final = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
_TOKEN_SPLIT: Final = re.compile(r"[^0-9a-z*?]+")
_EPOCH_MS: Final = re.compile(r"-?\d+")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NAN: Final = math.nan
_COMPARISONS: Final = frozenset({"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN"})
# ``value OP low`` as ``low.__method__(value)``; values and bounds are floats (NaN = no value).
_REFLECTED: Final = {
    "EQ": "__eq__",
    "NEQ": "__ne__",
    "LT": "__gt__",
    "LTE": "__ge__",
    "GT": "__lt__",
    "GTE": "__le__",
}


# --------------------------------------------------------------------------- time


def format_instant(moment: datetime) -> str:
    """Render ``moment`` (naive = UTC) the way HubSpot does: ISO 8601, ms, ``Z``."""
    moment = _as_utc(moment)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = moment.microsecond // 1000
    return f"{base}.{millis:03d}Z" if millis else f"{base}Z"


def parse_instant(value: str) -> datetime | None:
    """Parse an epoch-millisecond string or an ISO 8601 date/datetime; ``None`` if neither."""
    text = value.strip()
    if not text:
        return None
    if _EPOCH_MS.fullmatch(text):
        return _EPOCH + timedelta(milliseconds=int(text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return _as_utc(parsed)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _to_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _utc_now() -> datetime:
    return datetime.now(UTC)


# --------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (header names are lower-cased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    at: float = 0.0
    """When it arrived, on the fake's ``monotonic`` clock."""


class Stage(NamedTuple):
    """A pipeline stage; a closed stage with probability 1.0 is "closed won"."""

    id: str
    label: str
    probability: float
    closed: bool = False

    @property
    def won(self) -> bool:
        return self.closed and self.probability >= 1.0


# --------------------------------------------------------------------------- internals


@dataclass(frozen=True)
class _ObjectSpec:
    name: str
    singular: str
    create_prop: str
    default_props: tuple[str, ...]
    numeric_props: frozenset[str]
    datetime_props: frozenset[str]
    read_scope: str
    write_scope: str

    @property
    def always_props(self) -> tuple[str, ...]:
        return ("hs_object_id", self.create_prop, "hs_lastmodifieddate")

    def kind(self, prop: str) -> str:
        if prop in self.numeric_props:
            return "number"
        if prop in self.datetime_props:
            return "datetime"
        return "string"


_DEALS: Final = _ObjectSpec(
    name="deals",
    singular="DEAL",
    create_prop="createdate",
    default_props=(
        "amount",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "hs_lastmodifieddate",
        "hs_object_id",
        "pipeline",
    ),
    numeric_props=frozenset(
        {"amount", "hs_object_id", "hs_deal_stage_probability", "num_notes", "hs_forecast_amount"}
    ),
    datetime_props=frozenset(
        {
            "closedate",
            "createdate",
            "hs_lastmodifieddate",
            "notes_last_updated",
            "notes_last_contacted",
            "notes_next_activity_date",
            "hs_lastactivitydate",
        }
    ),
    read_scope=DEALS_READ,
    write_scope=DEALS_WRITE,
)
_NOTES: Final = _ObjectSpec(
    name="notes",
    singular="NOTE",
    create_prop="hs_createdate",
    default_props=("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    numeric_props=frozenset({"hs_object_id"}),
    datetime_props=frozenset({"hs_timestamp", "hs_createdate", "hs_lastmodifieddate"}),
    read_scope=NOTES_READ,
    write_scope=NOTES_WRITE,
)
_SPECS: Final = {"deals": _DEALS, "notes": _NOTES}

_STANDARD_DEAL_PROPERTIES: Final = frozenset(
    {
        "amount",
        "closed_lost_reason",
        "closed_won_reason",
        "closedate",
        "createdate",
        "dealname",
        "dealstage",
        "dealtype",
        "description",
        "hs_deal_stage_probability",
        "hs_forecast_amount",
        "hs_forecast_category",
        "hs_is_closed",
        "hs_is_closed_won",
        "hs_lastactivitydate",
        "hs_lastmodifieddate",
        "hs_next_step",
        "hs_object_id",
        "hs_priority",
        "hubspot_owner_id",
        "notes_last_contacted",
        "notes_last_updated",
        "notes_next_activity_date",
        "num_notes",
        "pipeline",
    }
)
_ENUMERATION_DEAL_PROPERTIES: Final = frozenset(
    {"dealstage", "pipeline", "hubspot_owner_id", "dealtype", "hs_priority", "hs_forecast_category"}
)
_PROPERTY_LABELS: Final = {
    "amount": "Amount",
    "closedate": "Close Date",
    "createdate": "Create Date",
    "dealname": "Deal Name",
    "dealstage": "Deal Stage",
    "hs_next_step": "Next step",
    "hubspot_owner_id": "Deal owner",
    "pipeline": "Pipeline",
    "closed_lost_reason": "Closed Lost Reason",
    "hs_lastmodifieddate": "Last Modified Date",
    "notes_last_updated": "Last Activity Date",
}
_READ_ONLY_DEAL_PROPERTIES: Final = frozenset(
    {
        "createdate",
        "hs_deal_stage_probability",
        "hs_is_closed",
        "hs_is_closed_won",
        "hs_lastmodifieddate",
        "hs_object_id",
        "notes_last_updated",
        "num_notes",
    }
)
_NOTE_PROPERTIES: Final = frozenset(
    {
        "hs_attachment_ids",
        "hs_createdate",
        "hs_lastmodifieddate",
        "hs_note_body",
        "hs_object_id",
        "hs_timestamp",
        "hubspot_owner_id",
    }
)


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        body: JSON | str,
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str = _JSON_CONTENT_TYPE,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.content_type = content_type


@dataclass
class _Response:
    status: int
    body: JSON | str | None
    headers: dict[str, str]
    content_type: str = _JSON_CONTENT_TYPE


@dataclass
class _FailureRule:
    remaining: int
    status: int
    retry_after: str | None
    path_contains: str | None
    method: str | None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_contains is None or self.path_contains in path


@dataclass
class _Pipeline:
    id: str
    label: str
    display_order: int
    stages: list[Stage]
    created_at: str


Handler = Callable[[dict[str, str], dict[str, list[str]], Any], tuple[int, JSON]]


class _Route(NamedTuple):
    method: str
    pattern: re.Pattern[str]
    scope: Callable[[dict[str, str]], str]
    handler: Handler
    is_search: bool = False


class _Filter(NamedTuple):
    """A compiled search filter: its predicate plus what the indexed search path needs.

    ``low``/``high`` (floats, NaN for "no value") are set only for EQ/NEQ/LT/LTE/GT/GTE/BETWEEN
    on number and datetime properties; ``high`` only for BETWEEN.
    """

    check: Callable[[JSON], bool]
    prop: str
    operator: str
    low: Any = None
    high: Any = None


@dataclass
class _SearchIndex:
    """Live (non-archived) records in id order, with lazily built per-property value columns.

    ``columns[prop][i]`` is the comparable value of ``records[i]``'s ``prop`` as a float (what
    the filters compare), NaN when it has none.  ``mismatched`` holds ids of live records whose
    ``hs_object_id`` property is not their id (only possible through ``touch_deal``); while it
    is non-empty, id order is not ``hs_object_id`` order and the indexed path is not used.
    ``hits`` caches, per set of number/datetime comparisons, the positions that pass them all.
    """

    ids: list[int]
    records: list[JSON]
    columns: dict[str, list[float]]
    mismatched: set[int]
    hits: dict[frozenset[tuple[str, str, Any, Any]], list[int]] = field(default_factory=dict)


def _error_body(message: str, category: str, **extra: Any) -> JSON:
    body: JSON = {"status": "error", "message": message, "correlationId": str(uuid.uuid4())}
    body.update(extra)
    body["category"] = category
    return body


def _validation(message: str, **extra: Any) -> _ApiError:
    return _ApiError(400, _error_body(message, "VALIDATION_ERROR", **extra))


def _property_message(errors: list[JSON]) -> str:
    return f"Property values were not valid: {json.dumps(errors, separators=(',', ':'))}"


def _property_errors(errors: list[JSON]) -> _ApiError:
    return _validation(_property_message(errors))


def _invalid_option(name: str, value: str, options: Iterable[str]) -> JSON:
    allowed = ", ".join(options)
    return {
        "isValid": False,
        "message": f"{value} was not one of the allowed options: [{allowed}]",
        "error": "INVALID_OPTION",
        "name": name,
    }


def _stringify(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _has_nan(*values: float | None) -> bool:
    return any(value is not None and math.isnan(value) for value in values)


def _tokens(text: str) -> list[str]:
    return [token for token in _TOKEN_SPLIT.split(text.lower()) if token]


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, fake: FakeHubSpot) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.fake = fake


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _serve(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.fake._handle_http(self.command, split.path, split.query, raw, headers)
        if response.body is None:
            payload = b""
        elif isinstance(response.body, str):
            payload = response.body.encode()
        else:
            payload = json.dumps(response.body, separators=(",", ":")).encode()
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


# --------------------------------------------------------------------------- the fake


class FakeHubSpot:
    """In-process HubSpot CRM v3 server with state helpers, failure injection and recording."""

    portal_id: int = 12345678

    def __init__(
        self,
        token: str = "pat-test-token",  # noqa: S107 - a fake credential for tests
        *,
        enforce_search_rate: bool = False,
        enforce_rate_limit: bool = False,
        search_in_window: bool = False,
        allowance: int = RATE_LIMIT_MAX_PER_10S,
        daily_allowance: int = RATE_LIMIT_DAILY,
        time_scale: float = 1.0,
    ) -> None:
        self.token = token
        self.enforce_search_rate = enforce_search_rate
        self.enforce_rate_limit = enforce_rate_limit
        self.search_in_window = search_in_window
        self.allowance = allowance
        self.daily_allowance = daily_allowance
        self.time_scale = time_scale
        # Share of every 10-second window held by "another integration" of the same portal.
        self.other_integration_share: float = 0.0
        self.monotonic: Callable[[], float] = time.monotonic
        self.refused = 0
        self.latency: float = 0.0
        # Batch update with an invalid value: HubSpot refuses the whole batch (400) unless the call
        # asks for multi-status; `partial_batches` answers 207 instead, the valid inputs applied.
        self.partial_batches = False
        # Whether a whole-batch 400 names the refused inputs (`context.ids`); when it does not, a
        # client must split the batch to find them.
        self.batch_errors_name_ids = True
        self._clock: Callable[[], datetime] = _utc_now
        self.deals: dict[str, JSON] = {}
        self.notes: dict[str, JSON] = {}
        self.owners: dict[str, JSON] = {}
        self.requests: list[RecordedRequest] = []
        self.scopes: set[str] = set(ALL_SCOPES)
        self.deal_properties: set[str] = set(_STANDARD_DEAL_PROPERTIES)
        # Property history per deal, newest first, as batch read's `propertiesWithHistory` returns it.
        self.history: dict[str, dict[str, list[JSON]]] = {}
        self._lock = threading.RLock()
        self._pipelines: dict[str, _Pipeline] = {}
        self._order: dict[str, list[int]] = {"deals": [], "notes": []}
        self._next_id: dict[str, int] = {"deals": 10_000_000_001, "notes": 60_000_000_001}
        self._next_user_id = 70_000_001
        self._last_write: datetime | None = None
        self._indexes: dict[str, _SearchIndex] = {}
        self._dirty: dict[str, set[str]] = {"deals": set(), "notes": set()}
        self._column_memo: dict[str, dict[str, float]] = {"number": {}, "datetime": {}}
        self._revoked = False
        self._failures: list[_FailureRule] = []
        self._search_times: dict[str, deque[float]] = {}
        self._call_times: dict[str, deque[float]] = {}
        self._daily_calls: dict[str, int] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._routes = self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeHubSpot:
        """Start serving on 127.0.0.1 (random port) in a daemon thread."""
        if self._server is None:
            self._server = _Server(self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.01},
                name="FakeHubSpot",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeHubSpot:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def clock(self) -> Callable[[], datetime]:
        """Source of "now" for server-side writes (default: real UTC time).

        Assigning a new clock restarts the strictly-increasing sequence, so a test may move
        time backwards on purpose.
        """
        return self._clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        with self._lock:
            self._clock = clock
            self._last_write = None

    @property
    def url(self) -> str:
        """Base URL (``HUBSPOT_API_URL``), e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("FakeHubSpot is not running; call start() or use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # ------------------------------------------------------------------ state: pipelines and owners

    def add_pipeline(
        self,
        pipeline_id: str,
        label: str,
        stages: Sequence[Stage | tuple[str, str, float] | tuple[str, str, float, bool]],
    ) -> None:
        """Add a deal pipeline; stages are ``(stage_id, label, probability[, closed])``.

        A closed stage with probability 1.0 is closed-won, a closed stage with 0.0 closed-lost.
        """
        with self._lock:
            created = format_instant(self._write_time())
            self._pipelines[pipeline_id] = _Pipeline(
                id=pipeline_id,
                label=label,
                display_order=len(self._pipelines),
                stages=[Stage(*stage) for stage in stages],
                created_at=created,
            )

    def add_default_pipeline(self) -> None:
        """HubSpot's stock "Sales Pipeline" (id ``default``) with its seven stages."""
        self.add_pipeline(
            "default",
            "Sales Pipeline",
            [
                Stage("appointmentscheduled", "Appointment Scheduled", 0.2),
                Stage("qualifiedtobuy", "Qualified To Buy", 0.4),
                Stage("presentationscheduled", "Presentation Scheduled", 0.6),
                Stage("decisionmakerboughtin", "Decision Maker Bought-In", 0.8),
                Stage("contractsent", "Contract Sent", 0.9),
                Stage("closedwon", "Closed Won", 1.0, True),
                Stage("closedlost", "Closed Lost", 0.0, True),
            ],
        )

    def add_owner(
        self,
        owner_id: str,
        email: str,
        first: str,
        last: str,
        user_id: int | None = None,
        teams: list[dict[str, Any]] | None = None,
        *,
        archived: bool = False,
    ) -> None:
        """Add an owner; ``user_id`` defaults to a generated id, ``teams`` to ``[]``.

        Team dicts look like ``{"id": "123", "name": "EMEA", "primary": True}``.
        """
        with self._lock:
            if user_id is None:
                user_id = self._next_user_id
                self._next_user_id += 1
            stamp = format_instant(self._write_time())
            self.owners[owner_id] = {
                "id": owner_id,
                "email": email,
                "type": "PERSON",
                "firstName": first,
                "lastName": last,
                "userId": user_id,
                "userIdIncludingInactive": user_id,
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": archived,
                "teams": list(teams or []),
            }

    # ------------------------------------------------------------------ state: deals

    def add_deal(self, **properties: str | None) -> str:
        """Create a deal directly in the CRM state and return its numeric id (as str).

        ``createdate``/``hs_lastmodifieddate`` may be passed (epoch ms or ISO) to backdate a deal.
        """
        with self._lock:
            return self._insert_deal(properties)

    def add_deals_bulk(self, count: int, make: Callable[[int], Mapping[str, str | None]]) -> list[str]:
        """Create ``count`` deals from ``make(i)``; cheap enough for tens of thousands."""
        with self._lock:
            return [self._insert_deal(make(index)) for index in range(count)]

    def touch_deal(self, deal_id: str, **properties: str | None) -> None:
        """Change a deal as if a person edited it in HubSpot (bumps ``hs_lastmodifieddate``)."""
        with self._lock:
            record = self.deals[deal_id]
            self._dirty["deals"].add(deal_id)
            for name, value in properties.items():
                record["properties"][name] = self._normalize(_DEALS, name, _stringify(value))
                self.deal_properties.add(name)
            self._derive_deal(record["properties"])
            if "hs_lastmodifieddate" not in properties:
                record["properties"]["hs_lastmodifieddate"] = format_instant(self._write_time())
            record["updatedAt"] = record["properties"]["hs_lastmodifieddate"]
            self._remember(deal_id, properties, record["updatedAt"], "CRM_UI", user_id=1001)

    def archive_deal(self, deal_id: str) -> None:
        """Archive (soft-delete) a deal: it disappears from lists, search and GET."""
        with self._lock:
            record = self.deals[deal_id]
            self._dirty["deals"].add(deal_id)
            stamp = format_instant(self._write_time())
            record["archived"] = True
            record["archivedAt"] = stamp
            record["updatedAt"] = stamp

    def _insert_deal(self, given: Mapping[str, str | None]) -> str:
        deal_id = self._new_id("deals")
        props: dict[str, str | None] = {}
        for name, value in given.items():
            props[name] = self._normalize(_DEALS, name, _stringify(value))
            self.deal_properties.add(name)
        now = format_instant(self._write_time())
        created = props.get("createdate") or now
        props["createdate"] = created
        props["hs_object_id"] = deal_id
        if not props.get("hs_lastmodifieddate"):
            props["hs_lastmodifieddate"] = now
        if not props.get("pipeline") and props.get("dealstage"):
            props["pipeline"] = self._pipeline_of_stage(props["dealstage"] or "")
        self._derive_deal(props)
        self.deals[deal_id] = {
            "id": deal_id,
            "properties": props,
            "createdAt": created,
            "updatedAt": props["hs_lastmodifieddate"],
            "archived": False,
            "associations": {"notes": []},
        }
        return deal_id

    def _pipeline_of_stage(self, stage_id: str) -> str | None:
        for pipeline in self._pipelines.values():
            if any(stage.id == stage_id for stage in pipeline.stages):
                return pipeline.id
        return None

    def _find_stage(self, pipeline_id: str | None, stage_id: str | None) -> Stage | None:
        if not stage_id:
            return None
        pipelines = [self._pipelines[pipeline_id]] if pipeline_id in self._pipelines else []
        if not pipelines and not pipeline_id:
            pipelines = list(self._pipelines.values())
        for pipeline in pipelines:
            for stage in pipeline.stages:
                if stage.id == stage_id:
                    return stage
        return None

    def _derive_deal(self, props: dict[str, str | None]) -> None:
        stage = self._find_stage(props.get("pipeline"), props.get("dealstage"))
        props["hs_is_closed"] = "true" if stage is not None and stage.closed else "false"
        props["hs_is_closed_won"] = "true" if stage is not None and stage.won else "false"
        props["hs_deal_stage_probability"] = repr(float(stage.probability)) if stage else None

    # ------------------------------------------------------------------ failure injection & auth

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 429,
        retry_after: str | None = None,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> None:
        """Make the next ``count`` matching requests fail with ``status``.

        429 gets HubSpot's RATE_LIMIT body (SECONDLY for search, TEN_SECONDLY_ROLLING
        otherwise); 502/503/504 a gateway HTML page; 404 HubSpot's OBJECT_NOT_FOUND body (e.g.
        ``fail_next(9, status=404, path_contains="/notes/search")``); other codes a HubSpot JSON error.
        ``retry_after`` adds a ``Retry-After`` header.
        """
        with self._lock:
            self._failures.append(_FailureRule(count, status, retry_after, path_contains, method))

    def revoke_token(self) -> None:
        """Every later request gets 401 INVALID_AUTHENTICATION."""
        with self._lock:
            self._revoked = True

    def remove_scope(self, scope: str) -> None:
        """Requests needing ``scope`` get 403 MISSING_SCOPES from now on."""
        with self._lock:
            self.scopes.discard(scope)

    # ------------------------------------------------------------------ recording

    def request_count(self, *, method: str | None = None, path_contains: str | None = None) -> int:
        """How many recorded requests match ``method`` and/or contain ``path_contains``."""
        with self._lock:
            return sum(
                1
                for request in self.requests
                if (method is None or request.method == method.upper())
                and (path_contains is None or path_contains in request.path)
            )

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    # ------------------------------------------------------------------ helpers

    def _write_time(self) -> datetime:
        now = _as_utc(self.clock())
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._last_write is not None and now <= self._last_write:
            now = self._last_write + timedelta(milliseconds=1)
        self._last_write = now
        return now

    def _new_id(self, kind: str) -> str:
        value = self._next_id[kind]
        self._next_id[kind] = value + 1
        self._order[kind].append(value)
        self._dirty[kind].add(str(value))
        return str(value)

    def _normalize(self, spec: _ObjectSpec, name: str, value: str | None) -> str | None:
        """Store datetime properties canonically (HubSpot renders them as ISO instants)."""
        if value and spec.kind(name) == "datetime":
            parsed = parse_instant(value)
            if parsed is None:
                raise ValueError(f"{name}={value!r} is not epoch milliseconds or ISO 8601")
            return format_instant(parsed)
        return value

    def _store(self, spec: _ObjectSpec) -> dict[str, JSON]:
        return self.deals if spec is _DEALS else self.notes

    def _known_props(self, spec: _ObjectSpec) -> set[str] | frozenset[str]:
        return self.deal_properties if spec is _DEALS else _NOTE_PROPERTIES

    def _render(self, spec: _ObjectSpec, record: JSON, requested: Sequence[str] | None) -> JSON:
        return self._renderer(spec, requested)(record)

    def _renderer(self, spec: _ObjectSpec, requested: Sequence[str] | None) -> Callable[[JSON], JSON]:
        """``_render`` for many records: the property names are worked out once."""
        known = self._known_props(spec)
        wanted = list(spec.default_props if requested is None else requested) + list(spec.always_props)
        names = sorted(set(wanted))

        def render(record: JSON) -> JSON:
            props: dict[str, str | None] = record["properties"]
            out: dict[str, str | None] = {}
            for name in names:
                if name in props:
                    out[name] = props[name]
                elif name in known:
                    out[name] = None
            rendered: JSON = {
                "id": record["id"],
                "properties": out,
                "createdAt": record["createdAt"],
                "updatedAt": record["updatedAt"],
                "archived": record["archived"],
            }
            if record["archived"]:
                rendered["archivedAt"] = record.get("archivedAt")
            return rendered

        return render

    def _not_found(self, object_id: str) -> _ApiError:
        if object_id.isdigit():
            return _ApiError(404, _error_body("resource not found", "OBJECT_NOT_FOUND"))
        return _ApiError(
            404,
            _error_body(
                "Object not found.  objectId are usually numeric.",
                "OBJECT_NOT_FOUND",
                context={"id": [object_id]},
            ),
        )

    def _live(self, spec: _ObjectSpec, object_id: str) -> JSON | None:
        record = self._store(spec).get(object_id)
        return None if record is None or record["archived"] else record

    # ------------------------------------------------------------------ request handling

    def _handle_http(
        self, method: str, path: str, query_string: str, raw: bytes, headers: dict[str, str]
    ) -> _Response:
        query = parse_qs(query_string, keep_blank_values=True)
        body: Any = None
        parse_error: json.JSONDecodeError | None = None
        if raw:
            text = raw.decode("utf-8", errors="replace")
            try:
                body = json.loads(text)
            except json.JSONDecodeError as exc:
                body, parse_error = text, exc
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, body, headers, self.monotonic()))
        if self.latency > 0:
            time.sleep(self.latency)
        with self._lock:
            response = self._process(method, path, query, body, parse_error, headers)
            if response.status == 429:
                self.refused += 1
        if isinstance(response.body, dict) and "correlationId" in response.body:
            correlation = str(response.body["correlationId"])
        else:
            correlation = str(uuid.uuid4())
        response.headers.setdefault("X-HubSpot-Correlation-Id", correlation)
        return response

    def _process(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: Any,
        parse_error: json.JSONDecodeError | None,
        headers: dict[str, str],
    ) -> _Response:
        route, params = self._match(method, path)
        is_search = route is not None and route.is_search
        failure = self._take_failure(method, path)
        if failure is not None:
            return self._failure_response(failure, route, params, is_search)

        authorization = headers.get("authorization", "")
        token = authorization[7:] if authorization.startswith("Bearer ") else ""
        if self._revoked or token != self.token:
            return _Response(
                401,
                _error_body(_AUTH_MESSAGE, "INVALID_AUTHENTICATION"),
                {"X-HubSpot-Auth-Failure": "401 Unauthorized"},
            )
        counted = not is_search or self.search_in_window
        allowed, rate_headers = self._portal_call(token) if counted else (True, {})
        if is_search:
            rate_headers = {}  # HubSpot's search answers carry no rate-limit headers
        try:
            if route is None:
                raise _ApiError(404, _error_body("Resource not found", "OBJECT_NOT_FOUND"))
            scope = route.scope(params)
            if scope not in self.scopes:
                raise self._missing_scope(scope)
            if not allowed:
                raise _ApiError(429, self._rate_limit_body(search=False))
            if is_search and self.enforce_search_rate and not self._search_allowed(token):
                raise _ApiError(429, self._rate_limit_body(search=True))
            if parse_error is not None:
                raise _validation(
                    f"Invalid input JSON on line {parse_error.lineno}, column {parse_error.colno}: "
                    f"{parse_error.msg}"
                )
            status, payload = route.handler(params, query, body)
        except _ApiError as error:
            return _Response(error.status, error.body, {**rate_headers, **error.headers}, error.content_type)
        return _Response(status, payload, rate_headers)

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str]]:
        for route in self._routes:
            if route.method != method:
                continue
            found = route.pattern.fullmatch(path)
            if found:
                return route, {key: value for key, value in found.groupdict().items() if value is not None}
        return None, {}

    def _take_failure(self, method: str, path: str) -> _FailureRule | None:
        for rule in self._failures:
            if rule.matches(method, path):
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._failures.remove(rule)
                return rule
        return None

    def _failure_response(
        self, rule: _FailureRule, route: _Route | None, params: dict[str, str], is_search: bool
    ) -> _Response:
        headers: dict[str, str] = {}
        if rule.retry_after is not None:
            headers["Retry-After"] = rule.retry_after
        status = rule.status
        if status == 429:
            if not is_search:
                headers.update(self._rate_headers(self.token, remaining=0))
            return _Response(status, self._rate_limit_body(search=is_search), headers)
        if status in _REASONS or 520 <= status <= 527:
            reason = _REASONS.get(status, "Origin Error")
            html = _GATEWAY_HTML.format(status=status, reason=reason)
            return _Response(status, html, headers, "text/html")
        if status == 401:
            headers["X-HubSpot-Auth-Failure"] = "401 Unauthorized"
            return _Response(status, _error_body(_AUTH_MESSAGE, "INVALID_AUTHENTICATION"), headers)
        if status == 403:
            scope = route.scope(params) if route is not None else ""
            return _Response(status, self._missing_scope(scope).body, headers)
        if status >= 500:
            return _Response(status, _error_body("internal error", "INTERNAL_ERROR"), headers)
        if status == 404:  # what HubSpot answers for an object or route it does not know
            return _Response(status, _error_body("resource not found", "OBJECT_NOT_FOUND"), headers)
        category = _CATEGORIES.get(status, "BAD_REQUEST")
        return _Response(status, _error_body(f"Injected HTTP {status}", category), headers)

    @staticmethod
    def _missing_scope(scope: str) -> _ApiError:
        return _ApiError(
            403,
            _error_body(
                _SCOPES_MESSAGE,
                "MISSING_SCOPES",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": [scope]},
                    }
                ],
                links={"scopes": "https://developers.hubspot.com/scopes"},
            ),
        )

    def _rate_limit_body(self, *, search: bool) -> JSON:
        if search:
            return {
                "status": "error",
                "message": "You have reached your secondly limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "SECONDLY",
                "groupName": f"publicapi:crm-search-secondly:{self.portal_id}",
            }
        return {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": "TEN_SECONDLY_ROLLING",
            "groupName": f"publicapi:private-app-api-calls-ten-secondly:{self.portal_id}",
        }

    def use_daily(self, calls: int) -> None:
        """Spend ``calls`` of today's allowance (as other integrations would)."""
        with self._lock:
            self._daily_calls[self.token] = self._daily_calls.get(self.token, 0) + calls

    def _search_allowed(self, token: str) -> bool:
        now = self.monotonic()
        window = self._search_times.setdefault(token, deque())
        while window and now - window[0] >= 1.0 / self.time_scale:
            window.popleft()
        if len(window) >= SEARCH_REQUESTS_PER_SECOND:
            return False
        window.append(now)
        return True

    def _others(self) -> int:
        return round(self.other_integration_share * self.allowance)

    def _portal_call(self, token: str) -> tuple[bool, dict[str, str]]:
        """Count one call in the portal's window and day; (allowed, its rate-limit headers)."""
        now = self.monotonic()
        window = self._call_times.setdefault(token, deque())
        while window and now - window[0] >= 10.0 / self.time_scale:
            window.popleft()
        allowed = not self.enforce_rate_limit or len(window) + self._others() < self.allowance
        if allowed:
            window.append(now)
            self._daily_calls[token] = self._daily_calls.get(token, 0) + 1
        remaining = max(self.allowance - len(window) - self._others(), 0) if allowed else 0
        return allowed, self._rate_headers(token, remaining=remaining)

    def _rate_headers(self, token: str, *, remaining: int) -> dict[str, str]:
        daily = self._daily_calls.get(token, 0)
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily_allowance),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(self.daily_allowance - daily, 0)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(round(10_000 / self.time_scale)),
            "X-HubSpot-RateLimit-Max": str(self.allowance),
            "X-HubSpot-RateLimit-Remaining": str(remaining),
        }

    # ------------------------------------------------------------------ routes

    def _build_routes(self) -> list[_Route]:
        objects = r"/crm/v3/objects/(?P<type>deals|notes)"

        def read(params: dict[str, str]) -> str:
            return _SPECS[params.get("type", "deals")].read_scope

        def write(params: dict[str, str]) -> str:
            return _SPECS[params.get("type", "deals")].write_scope

        def deals_read(params: dict[str, str]) -> str:
            return DEALS_READ

        def owners_read(params: dict[str, str]) -> str:
            return OWNERS_READ

        def properties_read(params: dict[str, str]) -> str:
            # Real HubSpot takes any of several scopes here; the object read scope is one of them.
            return DEALS_READ if DEALS_READ in self.scopes else SCHEMAS_DEALS_READ

        pipelines = r"/crm/v3/pipelines/(?:deals|0-3)"
        properties = r"/crm/v3/properties/(?:deals|0-3)"
        return [
            _Route("POST", re.compile(objects + r"/search/?"), read, self._search, True),
            _Route("POST", re.compile(objects + r"/batch/read/?"), read, self._batch_read),
            _Route(
                "POST",
                re.compile(r"/crm/v3/objects/(?P<type>deals)/batch/update/?"),
                write,
                self._batch_update,
            ),
            _Route(
                "POST",
                re.compile(r"/crm/v3/objects/(?P<type>notes)/batch/create/?"),
                write,
                self._batch_create_notes,
            ),
            _Route("POST", re.compile(r"/crm/v3/objects/(?P<type>notes)/?"), write, self._create_note),
            _Route("GET", re.compile(objects + r"/?"), read, self._list_objects),
            _Route("GET", re.compile(objects + r"/(?P<id>[^/]+)/?"), read, self._get_object),
            _Route(
                "PATCH",
                re.compile(r"/crm/v3/objects/(?P<type>deals)/(?P<id>[^/]+)/?"),
                write,
                self._update_deal,
            ),
            _Route("GET", re.compile(pipelines + r"/?"), deals_read, self._list_pipelines),
            _Route("GET", re.compile(pipelines + r"/(?P<pipeline>[^/]+)/?"), deals_read, self._get_pipeline),
            _Route(
                "GET", re.compile(pipelines + r"/(?P<pipeline>[^/]+)/stages/?"), deals_read, self._get_stages
            ),
            _Route("GET", re.compile(properties + r"/?"), properties_read, self._list_properties),
            _Route("GET", re.compile(r"/crm/v3/owners/?"), owners_read, self._list_owners),
            _Route("GET", re.compile(r"/crm/v3/owners/(?P<id>[^/]+)/?"), owners_read, self._get_owner),
        ]

    # ------------------------------------------------------------------ query helpers

    @staticmethod
    def _int_param(query: dict[str, list[str]], name: str, default: int) -> int:
        values = query.get(name)
        if not values or values[0] == "":
            return default
        try:
            return int(values[0])
        except ValueError:
            raise _validation(f"Unable to parse value {values[0]!r} for query parameter {name}") from None

    @staticmethod
    def _bool_param(query: dict[str, list[str]], name: str) -> bool:
        values = query.get(name) or [""]
        return values[0].strip().lower() == "true"

    @staticmethod
    def _props_param(query: dict[str, list[str]], name: str = "properties") -> list[str] | None:
        if name not in query:
            return None
        return [part.strip() for value in query[name] for part in value.split(",") if part.strip()]

    @staticmethod
    def _body_dict(body: Any) -> JSON:
        if not isinstance(body, dict):
            raise _validation("Invalid input JSON: expected a JSON object")
        return body

    # ------------------------------------------------------------------ objects: read

    def _list_objects(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, JSON]:
        spec = _SPECS[params["type"]]
        limit = self._int_param(query, "limit", 10)
        if limit > LIST_LIMIT_MAX or limit < 1:
            raise _validation(f"limit must be between 1 and {LIST_LIMIT_MAX}, got {limit}")
        archived = self._bool_param(query, "archived")
        requested = self._props_param(query)
        after = (query.get("after") or [""])[0]
        order = self._order[spec.name]
        start = 0
        if after:
            if not after.isdigit():
                raise _validation(f"Invalid paging cursor: {after}")
            start = bisect.bisect_left(order, int(after))
        store = self._store(spec)
        page: list[JSON] = []
        next_after: str | None = None
        for object_id in order[start:]:
            record = store[str(object_id)]
            if record["archived"] != archived:
                continue
            if len(page) == limit:
                next_after = str(object_id)
                break
            page.append(self._render(spec, record, requested))
        payload: JSON = {"results": page}
        if next_after is not None:
            link = f"{self.url}/crm/v3/objects/{spec.name}?after={next_after}"
            payload["paging"] = {"next": {"after": next_after, "link": link}}
        return 200, payload

    def _get_object(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> tuple[int, JSON]:
        spec = _SPECS[params["type"]]
        object_id = params["id"]
        record = self._store(spec).get(object_id)
        archived = self._bool_param(query, "archived")
        if record is None or record["archived"] != archived:
            raise self._not_found(object_id)
        rendered = self._render(spec, record, self._props_param(query))
        wanted = self._props_param(query, "associations") or []
        associations: JSON = {}
        for kind, ids in record.get("associations", {}).items():
            if kind in wanted and ids:
                label = f"{spec.name[:-1]}_to_{kind[:-1]}"
                associations[kind] = {"results": [{"id": other, "type": label} for other in ids]}
        if associations:
            rendered["associations"] = associations
        return 200, rendered

    def _batch_read(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> tuple[int, JSON]:
        spec = _SPECS[params["type"]]
        data = self._body_dict(body)
        inputs = data.get("inputs")
        if not isinstance(inputs, list):
            raise _validation("inputs must be a list")
        if len(inputs) > BATCH_INPUT_MAX:
            raise _validation(f"Batch input size exceeded. Max size is {BATCH_INPUT_MAX}, got {len(inputs)}")
        requested = data.get("properties") or None
        with_history = data.get("propertiesWithHistory") or []
        started = format_instant(_as_utc(self.clock()))
        results: list[JSON] = []
        missing: list[str] = []
        for item in inputs:
            object_id = str(item.get("id", "")) if isinstance(item, dict) else ""
            record = self._live(spec, object_id)
            if record is None:
                missing.append(object_id)
            else:
                rendered = self._render(spec, record, requested)
                if with_history:
                    known = self.history.get(object_id, {})
                    rendered["propertiesWithHistory"] = {
                        name: list(known.get(name, [])) for name in with_history
                    }
                results.append(rendered)
        message = (
            f"Could not get some {spec.singular} objects, they may be deleted or not exist. "
            "Check that ids are valid."
        )
        return self._batch_response(results, missing, message, started)

    def _batch_response(
        self, results: list[JSON], missing: list[str], message: str, started: str
    ) -> tuple[int, JSON]:
        payload: JSON = {"status": "COMPLETE", "results": results}
        if missing:
            payload["numErrors"] = 1
            payload["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": message,
                    "context": {"ids": missing},
                }
            ]
        payload["startedAt"] = started
        payload["completedAt"] = format_instant(_as_utc(self.clock()))
        return (207 if missing else 200), payload

    # ------------------------------------------------------------------ deals: write

    def _validate_deal_update(
        self, current: Mapping[str, str | None], updates: Mapping[str, str | None]
    ) -> list[JSON]:
        errors: list[JSON] = []
        for name, value in updates.items():
            if name in _READ_ONLY_DEAL_PROPERTIES:
                errors.append(
                    {
                        "isValid": False,
                        "message": f"{name} is a read only property; its value cannot be set.",
                        "error": "READ_ONLY_VALUE",
                        "name": name,
                    }
                )
            elif name not in self.deal_properties:
                errors.append(
                    {
                        "isValid": False,
                        "message": f'Property "{name}" does not exist',
                        "error": "PROPERTY_DOESNT_EXIST",
                        "name": name,
                    }
                )
            elif not value:
                continue
            elif _DEALS.kind(name) == "number" and not _is_number(value):
                errors.append(
                    {
                        "isValid": False,
                        "message": f"{value} was not a valid long.",
                        "error": "INVALID_LONG",
                        "name": name,
                    }
                )
            elif _DEALS.kind(name) == "datetime" and parse_instant(value) is None:
                errors.append(
                    {
                        "isValid": False,
                        "message": (
                            f"{value} was not a valid date. Use a UNIX timestamp in milliseconds "
                            "or an ISO 8601 formatted date/datetime."
                        ),
                        "error": "INVALID_DATE",
                        "name": name,
                    }
                )
            elif name == "hubspot_owner_id" and self.owners:
                active = [owner_id for owner_id, owner in self.owners.items() if not owner["archived"]]
                if value not in active:
                    errors.append(_invalid_option(name, value, active))
        if self._pipelines and ("pipeline" in updates or "dealstage" in updates):
            pipeline_id = updates.get("pipeline", current.get("pipeline")) or "default"
            stage_id = updates.get("dealstage", current.get("dealstage"))
            pipeline = self._pipelines.get(pipeline_id)
            if pipeline is None:
                errors.append(_invalid_option("pipeline", pipeline_id, self._pipelines))
            elif stage_id and all(stage.id != stage_id for stage in pipeline.stages):
                errors.append(_invalid_option("dealstage", stage_id, [stage.id for stage in pipeline.stages]))
        return errors

    @staticmethod
    def _updates_from(item: Any) -> dict[str, str | None]:
        properties = item.get("properties") if isinstance(item, dict) else None
        if not isinstance(properties, dict):
            raise _validation("properties must be a JSON object of property names to values")
        return {str(name): _stringify(value) or "" for name, value in properties.items()}

    def _apply_deal_update(self, record: JSON, updates: Mapping[str, str | None]) -> None:
        props: dict[str, str | None] = record["properties"]
        self._dirty["deals"].add(record["id"])
        for name, value in updates.items():
            props[name] = self._normalize(_DEALS, name, value)
        self._derive_deal(props)
        stamp = format_instant(self._write_time())
        props["hs_lastmodifieddate"] = stamp
        record["updatedAt"] = stamp
        self._remember(record["id"], updates, stamp, "INTEGRATION", user_id=None)

    def _remember(
        self, deal_id: str, changed: Mapping[str, object], stamp: str, source: str, *, user_id: int | None
    ) -> None:
        """Property history: a person in the HubSpot UI is CRM_UI; an app's API write is INTEGRATION."""
        per_property = self.history.setdefault(deal_id, {})
        for name, value in changed.items():
            entry: JSON = {
                "value": "" if value is None else str(value),
                "timestamp": stamp,
                "sourceType": source,
            }
            if user_id is not None:
                entry |= {"sourceId": f"userId:{user_id}", "updatedByUserId": user_id}
            per_property.setdefault(name, []).insert(0, entry)

    def _update_deal(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, JSON]:
        deal_id = params["id"]
        updates = self._updates_from(self._body_dict(body))
        record = self._live(_DEALS, deal_id)
        if record is None:
            raise self._not_found(deal_id)
        errors = self._validate_deal_update(record["properties"], updates)
        if errors:
            raise _property_errors(errors)
        self._apply_deal_update(record, updates)
        return 200, self._render(_DEALS, record, list(updates))

    def _batch_update(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, JSON]:
        data = self._body_dict(body)
        inputs = data.get("inputs")
        if not isinstance(inputs, list):
            raise _validation("inputs must be a list")
        if len(inputs) > BATCH_INPUT_MAX:
            raise _validation(f"Batch input size exceeded. Max size is {BATCH_INPUT_MAX}, got {len(inputs)}")
        ids = [str(item.get("id", "")) if isinstance(item, dict) else "" for item in inputs]
        duplicates = sorted({deal_id for deal_id in ids if ids.count(deal_id) > 1})
        if duplicates:
            raise _validation(f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]")
        started = format_instant(_as_utc(self.clock()))
        planned: list[tuple[JSON, dict[str, str | None]]] = []
        missing: list[str] = []
        errors: list[JSON] = []
        invalid: list[tuple[str, list[JSON]]] = []
        for deal_id, item in zip(ids, inputs, strict=True):
            updates = self._updates_from(item)
            record = self._live(_DEALS, deal_id)
            if record is None:
                missing.append(deal_id)
                continue
            found = self._validate_deal_update(record["properties"], updates)
            if found:
                errors.extend(found)
                invalid.append((deal_id, found))
            else:
                planned.append((record, updates))
        if errors and not self.partial_batches:
            named = {"ids": [deal_id for deal_id, _ in invalid]} if self.batch_errors_name_ids else None
            raise _validation(_property_message(errors), **({"context": named} if named else {}))
        results = []
        for record, updates in planned:
            self._apply_deal_update(record, updates)
            results.append(self._render(_DEALS, record, list(updates)))
        message = (
            "Could not update some DEAL objects, they may be deleted or not exist. Check that ids are valid."
        )
        status, payload = self._batch_response(results, missing, message, started)
        if invalid:  # multi-status: each refused input is its own error, naming its id
            payload.setdefault("errors", []).extend(
                {
                    "status": "error",
                    "category": "VALIDATION_ERROR",
                    "message": _property_message(found),
                    "context": {"ids": [deal_id]},
                }
                for deal_id, found in invalid
            )
            payload["numErrors"] = len(payload["errors"])
            status = 207
        return status, payload

    # ------------------------------------------------------------------ notes

    def _create_note(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, JSON]:
        props, deal_ids = self._note_input(self._body_dict(body))
        record = self._store_note(props, deal_ids)
        return 201, self._render(_NOTES, record, list(record["properties"]))

    def _batch_create_notes(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, JSON]:
        """All or nothing, as HubSpot's batch create without multi-status: one invalid input (a
        bad timestamp, a deal that does not exist) refuses the whole batch with that input's error.
        With `partial_batches`, inputs carrying an `objectWriteTraceId` get multi-status: 207, the
        valid ones made, one error per refused input naming its trace id."""
        data = self._body_dict(body)
        inputs = data.get("inputs")
        if not isinstance(inputs, list):
            raise _validation("inputs must be a list")
        if len(inputs) > BATCH_INPUT_MAX:
            raise _validation(f"Batch input size exceeded. Max size is {BATCH_INPUT_MAX}, got {len(inputs)}")
        started = format_instant(_as_utc(self.clock()))
        checked: list[tuple[dict[str, str | None], list[str]]] = []
        errors: list[JSON] = []
        for item in inputs:
            data = self._body_dict(item)
            trace = data.get("objectWriteTraceId")
            try:
                checked.append(self._note_input(data))
            except _ApiError as error:
                # Multi-status needs each input's trace id, to say which one was refused.
                if not (self.partial_batches and trace) or not isinstance(error.body, dict):
                    raise
                errors.append(
                    {
                        "status": "error",
                        "category": error.body.get("category", "VALIDATION_ERROR"),
                        "message": error.body.get("message", ""),
                        "context": {"objectWriteTraceId": [str(trace)]},
                    }
                )
        results = []
        for props, deal_ids in checked:
            record = self._store_note(props, deal_ids)
            results.append(self._render(_NOTES, record, list(record["properties"])))
        payload: JSON = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": format_instant(_as_utc(self.clock())),
        }
        if errors:
            payload |= {"numErrors": len(errors), "errors": errors}
        return (207 if errors else 201), payload

    def _note_input(self, data: JSON) -> tuple[dict[str, str | None], list[str]]:
        """A note's properties and the deals it is associated with, checked; 400 when invalid."""
        raw_props = data.get("properties")
        if not isinstance(raw_props, dict):
            raise _validation("properties must be a JSON object of property names to values")
        props = {str(name): _stringify(value) for name, value in raw_props.items()}
        errors: list[JSON] = []
        timestamp = props.get("hs_timestamp")
        if not timestamp:
            errors.append(
                {
                    "isValid": False,
                    "message": "hs_timestamp is required",
                    "error": "REQUIRED_PROPERTY",
                    "name": "hs_timestamp",
                }
            )
        elif parse_instant(timestamp) is None:
            errors.append(
                {
                    "isValid": False,
                    "message": f"{timestamp} was not a valid date.",
                    "error": "INVALID_DATE",
                    "name": "hs_timestamp",
                }
            )
        for name in props:
            if name not in _NOTE_PROPERTIES:
                errors.append(
                    {
                        "isValid": False,
                        "message": f'Property "{name}" does not exist',
                        "error": "PROPERTY_DOESNT_EXIST",
                        "name": name,
                    }
                )
        if errors:
            raise _property_errors(errors)
        return props, self._note_associations(data.get("associations") or [])

    def _store_note(self, props: Mapping[str, str | None], deal_ids: list[str]) -> JSON:
        note_id = self._new_id("notes")
        stamp = format_instant(self._write_time())
        stored: dict[str, str | None] = {
            name: self._normalize(_NOTES, name, value) for name, value in props.items()
        }
        stored.update({"hs_object_id": note_id, "hs_createdate": stamp, "hs_lastmodifieddate": stamp})
        record: JSON = {
            "id": note_id,
            "properties": stored,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
            "associations": {"deals": deal_ids},
        }
        self.notes[note_id] = record
        note_time = stored["hs_timestamp"] or stamp
        for deal_id in deal_ids:
            self._roll_up_note(self.deals[deal_id], note_id, note_time)
        return record

    def _note_associations(self, associations: Any) -> list[str]:
        if not isinstance(associations, list):
            raise _validation("associations must be a list")
        deal_ids: list[str] = []
        for association in associations:
            to = association.get("to") if isinstance(association, dict) else None
            types = association.get("types") if isinstance(association, dict) else None
            target = str(to.get("id", "")) if isinstance(to, dict) else ""
            if not isinstance(types, list) or not types:
                raise _validation("Association types must be specified")
            for spec in types:
                category = spec.get("associationCategory") if isinstance(spec, dict) else None
                type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
                if category != "HUBSPOT_DEFINED" or type_id != NOTE_TO_DEAL_TYPE_ID:
                    raise _validation(
                        f"{category} {type_id} is not a valid association type between notes and deals",
                        context={"associationTypeId": [str(type_id)]},
                    )
            if self._live(_DEALS, target) is None:
                raise _validation(
                    f"One or more associations are invalid: DEAL {target} does not exist",
                    context={"toObjectId": [target]},
                )
            if target not in deal_ids:
                deal_ids.append(target)
        return deal_ids

    def _roll_up_note(self, deal: JSON, note_id: str, note_time: str) -> None:
        """HubSpot's activity roll-up: last activity date, note count, modified date."""
        props: dict[str, str | None] = deal["properties"]
        self._dirty["deals"].add(deal["id"])
        previous = props.get("notes_last_updated")
        previous_at = parse_instant(previous) if previous else None
        note_at = parse_instant(note_time)
        if note_at is not None and (previous_at is None or note_at > previous_at):
            props["notes_last_updated"] = format_instant(note_at)
        props["num_notes"] = str(int(props.get("num_notes") or 0) + 1)
        deal["associations"].setdefault("notes", []).append(note_id)
        stamp = format_instant(self._write_time())
        props["hs_lastmodifieddate"] = stamp
        deal["updatedAt"] = stamp

    # ------------------------------------------------------------------ search

    def _search(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> tuple[int, JSON]:
        spec = _SPECS[params["type"]]
        data = self._body_dict(body)
        limit = data.get("limit", 10)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise _validation(f"limit must be a non-negative integer, got {limit!r}")
        if limit > SEARCH_LIMIT_MAX:
            raise _validation(f"limit must be less than or equal to {SEARCH_LIMIT_MAX}, got {limit}")
        after_raw = data.get("after") or 0
        try:
            after = int(after_raw)
        except (TypeError, ValueError):
            raise _validation(f"after must be an integer offset, got {after_raw!r}") from None
        if after + limit > SEARCH_RESULT_CAP:
            raise _validation(
                f"Paging past {SEARCH_RESULT_CAP} results is not supported: after ({after}) + "
                f"limit ({limit}) must be at most {SEARCH_RESULT_CAP}. Narrow the query with filters."
            )
        predicate, groups = self._compile_filters(spec, data.get("filterGroups") or [])
        text_query = data.get("query")
        query_tokens = _tokens(text_query) if isinstance(text_query, str) else []
        sort_key = self._compile_sorts(data.get("sorts") or [])
        requested = data.get("properties") or None

        index = self._search_index(spec)
        by_id = sort_key is None or sort_key[0] == "hs_object_id"
        if by_id and not index.mismatched and not query_tokens and len(groups) <= 1:
            # Every live record's hs_object_id is its id, so id order is the sort order.
            descending = sort_key is not None and sort_key[1]
            group = groups[0] if groups else []
            total, page = self._indexed_search(spec, index, group, predicate, descending, after, limit)
            return 200, self._search_payload(spec, total, page, after, requested)
        matches = [record for record in index.records if predicate(record)]
        if query_tokens:
            matches = [record for record in matches if self._query_matches(record, query_tokens)]
        if sort_key is not None:
            matches = self._sorted(spec, matches, *sort_key)
        return 200, self._search_payload(spec, len(matches), matches[after : after + limit], after, requested)

    def _sorted(self, spec: _ObjectSpec, matches: list[JSON], prop: str, descending: bool) -> list[JSON]:
        kind = spec.kind(prop)
        present = [(self._sort_value(kind, record["properties"].get(prop)), record) for record in matches]
        have = [item for item in present if item[0] is not None]
        lack = [record for value, record in present if value is None]
        have.sort(key=lambda item: item[0], reverse=descending)
        return [record for _, record in have] + lack

    def _search_payload(
        self, spec: _ObjectSpec, total: int, page: list[JSON], after: int, requested: Any
    ) -> JSON:
        render = self._renderer(spec, requested) if page else None
        payload: JSON = {"total": total, "results": [render(record) for record in page] if render else []}
        if after + len(page) < total and page:
            payload["paging"] = {"next": {"after": str(after + len(page))}}
        return payload

    def _indexed_search(
        self,
        spec: _ObjectSpec,
        index: _SearchIndex,
        group: list[_Filter],
        predicate: Callable[[JSON], bool],
        descending: bool,
        after: int,
        limit: int,
    ) -> tuple[int, list[JSON]]:
        """Total and ``[after : after + limit]`` page of one filter group's matches in id order.

        hs_object_id bounds become a slice of the id list (bisect); number/datetime comparisons
        become a cached, sorted list of matching positions; anything else runs ``predicate`` on
        the slice.  Slicing ranges of positions keeps list-slicing semantics (negative ``after``).
        """
        ids = index.ids
        start, stop = 0, len(ids)
        columns: list[_Filter] = []
        general = False
        for item in group:
            low, high = item.low, item.high
            if low is None:  # not a number/datetime comparison
                general = True
            elif item.prop != "hs_object_id" or item.operator == "NEQ" or _has_nan(low, high):
                columns.append(item)  # (a NaN bound matches nothing; leave that to the column)
            else:
                if item.operator in {"GT", "GTE", "EQ", "BETWEEN"}:
                    cut = bisect.bisect_right if item.operator == "GT" else bisect.bisect_left
                    start = max(start, cut(ids, low))
                if item.operator in {"LT", "LTE", "EQ", "BETWEEN"}:
                    top = low if high is None else high
                    cut = bisect.bisect_left if item.operator == "LT" else bisect.bisect_right
                    stop = min(stop, cut(ids, top))
        stop = max(start, stop)
        records = index.records
        if general:
            found = [record for record in records[start:stop] if predicate(record)]
            if descending:
                found.reverse()
            return len(found), found[after : after + limit]
        if columns:
            hits = self._hits(spec, index, columns)
            chosen = range(bisect.bisect_left(hits, start), bisect.bisect_left(hits, stop))
            chosen = chosen[::-1] if descending else chosen
            return len(chosen), [records[hits[at]] for at in chosen[after : after + limit]]
        chosen = range(start, stop)[::-1] if descending else range(start, stop)
        return len(chosen), [records[at] for at in chosen[after : after + limit]]

    def _hits(self, spec: _ObjectSpec, index: _SearchIndex, columns: list[_Filter]) -> list[int]:
        """Positions (ascending) of the records passing all ``columns`` filters, cached per index."""
        key = frozenset((item.prop, item.operator, item.low, item.high) for item in columns)
        hits = index.hits.get(key)
        if hits is not None:
            return hits
        mask: list[bool] = []
        for item in columns:
            values = self._column(spec, index, item.prop)
            low = float(item.low)
            if item.operator == "BETWEEN":
                high = float(item.high)
                passed = list(map(operator.and_, map(low.__le__, values), map(high.__ge__, values)))
            else:
                passed = list(map(getattr(low, _REFLECTED[item.operator]), values))
            mask = list(map(operator.and_, mask, passed)) if mask else passed
        hits = list(compress(range(len(index.ids)), mask))
        if len(index.hits) >= 32:
            index.hits.clear()
        index.hits[key] = hits
        return hits

    def _search_index(self, spec: _ObjectSpec) -> _SearchIndex:
        """The up-to-date index of ``spec``'s live records (built, or patched with the dirty ids)."""
        dirty = self._dirty[spec.name]
        index = self._indexes.get(spec.name)
        store = self._store(spec)
        if index is None or len(dirty) > max(64, len(index.ids) // 8):
            index = _SearchIndex([], [], {}, set())
            for object_id in self._order[spec.name]:
                record = store[str(object_id)]
                if record["archived"]:
                    continue
                index.ids.append(object_id)
                index.records.append(record)
                if record["properties"].get("hs_object_id") != record["id"]:
                    index.mismatched.add(object_id)
            self._indexes[spec.name] = index
            dirty.clear()
            return index
        if dirty:
            index.hits.clear()
        for key in sorted(dirty, key=int):
            self._reindex(spec, index, int(key), store[key])
        dirty.clear()
        return index

    def _reindex(self, spec: _ObjectSpec, index: _SearchIndex, object_id: int, record: JSON) -> None:
        at = bisect.bisect_left(index.ids, object_id)
        present = at < len(index.ids) and index.ids[at] == object_id
        index.mismatched.discard(object_id)
        if record["archived"]:
            if present:
                del index.ids[at], index.records[at]
                for values in index.columns.values():
                    del values[at]
            return
        props = record["properties"]
        if props.get("hs_object_id") != record["id"]:
            index.mismatched.add(object_id)
        if not present:
            index.ids.insert(at, object_id)
            index.records.insert(at, record)
            for prop, values in index.columns.items():
                values.insert(at, self._column_value(spec.kind(prop), props.get(prop)))
            return
        index.records[at] = record
        for prop, values in index.columns.items():
            values[at] = self._column_value(spec.kind(prop), props.get(prop))

    def _column(self, spec: _ObjectSpec, index: _SearchIndex, prop: str) -> list[float]:
        values = index.columns.get(prop)
        if values is None:
            kind = spec.kind(prop)
            values = [self._column_value(kind, record["properties"].get(prop)) for record in index.records]
            index.columns[prop] = values
        return values

    def _column_value(self, kind: str, raw: Any) -> float:
        """A number/datetime property as filters compare it, as a float (NaN: no value)."""
        if raw is None or raw == "":
            return _NAN
        memo = self._column_memo[kind]
        text = str(raw)
        value = memo.get(text)
        if value is None:
            if kind == "number":
                value = float(text) if _is_number(text) else _NAN
            else:
                parsed = parse_instant(text)
                value = float(_to_ms(parsed)) if parsed is not None else _NAN
            memo[text] = value
        return value

    @staticmethod
    def _query_matches(record: JSON, query_tokens: list[str]) -> bool:
        text = record["properties"].get("dealname") or record["properties"].get("hs_note_body") or ""
        words = _tokens(text)
        return all(any(word.startswith(token) for word in words) for token in query_tokens)

    @staticmethod
    def _sort_value(kind: str, raw: str | None) -> Any:
        if raw is None or raw == "":
            return None
        if kind == "number":
            return float(raw) if _is_number(raw) else None
        if kind == "datetime":
            parsed = parse_instant(raw)
            return _to_ms(parsed) if parsed else None
        return raw.lower()

    @staticmethod
    def _compile_sorts(sorts: Any) -> tuple[str, bool] | None:
        if not isinstance(sorts, list):
            raise _validation("sorts must be a list")
        if len(sorts) > 1:
            raise _validation("Only one sort is supported per search request")
        if not sorts:
            return None
        sort = sorts[0]
        if isinstance(sort, dict):
            prop = sort.get("propertyName")
            direction = str(sort.get("direction") or "ASCENDING").upper()
            if not isinstance(prop, str) or direction not in {"ASCENDING", "DESCENDING"}:
                raise _validation(f"Invalid sort: {json.dumps(sort)}")
            return prop, direction == "DESCENDING"
        if isinstance(sort, str) and re.fullmatch(r"-?[A-Za-z0-9_.]+", sort):
            return (sort[1:], True) if sort.startswith("-") else (sort, False)
        return None  # e.g. a JSON-encoded string: HubSpot silently ignores it

    def _compile_filters(
        self, spec: _ObjectSpec, groups: Any
    ) -> tuple[Callable[[JSON], bool], list[list[_Filter]]]:
        if not isinstance(groups, list):
            raise _validation("filterGroups must be a list")
        if len(groups) > MAX_FILTER_GROUPS:
            raise _validation(
                f"Too many filter groups: {len(groups)}. A search request can have at most "
                f"{MAX_FILTER_GROUPS} filterGroups."
            )
        compiled: list[list[_Filter]] = []
        total = 0
        for group in groups:
            filters = group.get("filters") if isinstance(group, dict) else None
            if not isinstance(filters, list):
                raise _validation("Each filterGroup must contain a list of filters")
            if len(filters) > MAX_FILTERS_PER_GROUP:
                raise _validation(
                    f"Too many filters in a filter group: {len(filters)}. A filterGroup can have at most "
                    f"{MAX_FILTERS_PER_GROUP} filters."
                )
            total += len(filters)
            compiled.append([self._compile_filter(spec, item) for item in filters])
        if total > MAX_FILTERS_TOTAL:
            raise _validation(
                f"Too many filters: {total}. A search request can have at most {MAX_FILTERS_TOTAL} filters "
                "across all filterGroups."
            )
        if not compiled:
            return (lambda record: True), compiled
        checks = [[item.check for item in group] for group in compiled]
        return (lambda record: any(all(check(record) for check in group) for group in checks)), compiled

    def _compile_filter(self, spec: _ObjectSpec, item: Any) -> _Filter:
        check = self._compile_check(spec, item)
        prop, op = item["propertyName"], str(item.get("operator") or "EQ").upper()
        if op not in _COMPARISONS or prop.startswith("associations.") or spec.kind(prop) == "string":
            return _Filter(check, prop, op)
        # Already validated (and converted without error) by _compile_check.
        low = self._column_value(spec.kind(prop), str(item["value"]))
        high = self._column_value(spec.kind(prop), str(item["highValue"])) if op == "BETWEEN" else None
        return _Filter(check, prop, op, low, high)

    def _compile_check(self, spec: _ObjectSpec, item: Any) -> Callable[[JSON], bool]:
        if not isinstance(item, dict):
            raise _validation("Each filter must be a JSON object")
        prop = item.get("propertyName")
        operator = str(item.get("operator") or "EQ").upper()
        if not isinstance(prop, str) or not prop:
            raise _validation("Filter is missing propertyName")
        if operator not in _OPERATORS:
            raise _validation(f"Invalid filter operator {operator!r} for property {prop}")

        if prop.startswith("associations."):
            return self._compile_association_filter(prop, operator, item)

        kind = spec.kind(prop)

        def convert(raw: Any, *, strict: bool) -> Any:
            text = "" if raw is None else str(raw)
            if kind == "number":
                if _is_number(text):
                    return float(text)
            elif kind == "datetime":
                parsed = parse_instant(text)
                if parsed is not None:
                    return _to_ms(parsed)
            else:
                return text.lower()
            if strict:
                raise _validation(
                    f"{text} is not a valid value for {kind} property {prop} (operator {operator})"
                )
            return None

        def current(record: JSON) -> Any:
            raw = record["properties"].get(prop)
            return None if raw is None or raw == "" else convert(raw, strict=False)

        if operator in {"HAS_PROPERTY", "NOT_HAS_PROPERTY"}:
            wanted = operator == "HAS_PROPERTY"
            return lambda record: (record["properties"].get(prop) not in (None, "")) == wanted
        if operator in {"IN", "NOT_IN"}:
            values = item.get("values")
            if not isinstance(values, list) or not values:
                raise _validation(f"Operator {operator} requires a non-empty 'values' list (property {prop})")
            allowed = {convert(value, strict=True) for value in values}
            if operator == "IN":
                return lambda record: current(record) in allowed
            return lambda record: current(record) not in allowed
        if "value" not in item or item["value"] is None:
            raise _validation(f"Operator {operator} requires a 'value' (property {prop})")
        if operator in {"CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}:
            # The value is tokenized like the stored text; several tokens must appear in order
            # (a phrase match), and each token may use "*" / "?" wildcards.
            patterns = _tokens(str(item["value"]))
            wanted_token = operator == "CONTAINS_TOKEN"

            def has_token(record: JSON) -> bool:
                words = _tokens(record["properties"].get(prop) or "")
                width = len(patterns)
                return bool(patterns) and any(
                    all(
                        fnmatch.fnmatchcase(word, pattern)
                        for word, pattern in zip(window, patterns, strict=True)
                    )
                    for window in (words[start : start + width] for start in range(len(words) - width + 1))
                )

            return lambda record: has_token(record) == wanted_token
        low = convert(item["value"], strict=True)
        if operator == "BETWEEN":
            if item.get("highValue") is None:
                raise _validation(f"Operator BETWEEN requires 'highValue' (property {prop})")
            high = convert(item["highValue"], strict=True)
            return lambda record: (value := current(record)) is not None and low <= value <= high
        if operator == "EQ":
            return lambda record: current(record) == low
        if operator == "NEQ":
            return lambda record: current(record) != low
        comparisons: dict[str, Callable[[Any, Any], bool]] = {
            "LT": lambda a, b: a < b,
            "LTE": lambda a, b: a <= b,
            "GT": lambda a, b: a > b,
            "GTE": lambda a, b: a >= b,
        }
        compare = comparisons[operator]
        return lambda record: (value := current(record)) is not None and compare(value, low)

    @staticmethod
    def _compile_association_filter(prop: str, operator: str, item: JSON) -> Callable[[JSON], bool]:
        kind = prop.split(".", 1)[1]
        plural = kind if kind.endswith("s") else f"{kind}s"

        def ids(record: JSON) -> list[str]:
            linked: list[str] = record.get("associations", {}).get(plural, [])
            return linked

        if operator == "HAS_PROPERTY":
            return lambda record: bool(ids(record))
        if operator == "NOT_HAS_PROPERTY":
            return lambda record: not ids(record)
        if operator in {"IN", "NOT_IN"}:
            values = {str(value) for value in item.get("values") or []}
            if operator == "IN":
                return lambda record: bool(values.intersection(ids(record)))
            return lambda record: not values.intersection(ids(record))
        if operator in {"EQ", "NEQ"}:
            target = str(item.get("value"))
            if operator == "EQ":
                return lambda record: target in ids(record)
            return lambda record: target not in ids(record)
        raise _validation(f"Operator {operator} is not supported for {prop}")

    # ------------------------------------------------------------------ pipelines

    def _render_pipeline(self, pipeline: _Pipeline) -> JSON:
        return {
            "label": pipeline.label,
            "displayOrder": pipeline.display_order,
            "id": pipeline.id,
            "stages": [
                self._render_stage(pipeline, index, stage) for index, stage in enumerate(pipeline.stages)
            ],
            "createdAt": pipeline.created_at,
            "updatedAt": pipeline.created_at,
            "archived": False,
        }

    @staticmethod
    def _render_stage(pipeline: _Pipeline, index: int, stage: Stage) -> JSON:
        return {
            "label": stage.label,
            "displayOrder": index,
            "metadata": {
                "isClosed": "true" if stage.closed else "false",
                "probability": repr(float(stage.probability)),
            },
            "id": stage.id,
            "createdAt": pipeline.created_at,
            "updatedAt": pipeline.created_at,
            "archived": False,
            "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
        }

    def _pipeline(self, pipeline_id: str) -> _Pipeline:
        pipeline = self._pipelines.get(pipeline_id)
        if pipeline is None:
            raise _ApiError(
                404,
                _error_body(
                    f"Unable to find pipeline with id {pipeline_id}",
                    "OBJECT_NOT_FOUND",
                    context={"pipelineId": [pipeline_id]},
                ),
            )
        return pipeline

    def _list_pipelines(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, JSON]:
        return 200, {"results": [self._render_pipeline(pipeline) for pipeline in self._pipelines.values()]}

    def _get_pipeline(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, JSON]:
        return 200, self._render_pipeline(self._pipeline(params["pipeline"]))

    def _get_stages(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> tuple[int, JSON]:
        pipeline = self._pipeline(params["pipeline"])
        stages = [self._render_stage(pipeline, index, stage) for index, stage in enumerate(pipeline.stages)]
        return 200, {"results": stages}

    # ------------------------------------------------------------------ deal properties

    def _render_property(self, name: str) -> JSON:
        kind = _DEALS.kind(name)
        options = name in _ENUMERATION_DEAL_PROPERTIES
        standard = name in _STANDARD_DEAL_PROPERTIES
        read_only = name in _READ_ONLY_DEAL_PROPERTIES
        stamp = format_instant(_EPOCH + timedelta(days=18_000))
        return {
            "updatedAt": stamp,
            "createdAt": stamp,
            "name": name,
            "label": _PROPERTY_LABELS.get(name) or name.replace("_", " ").capitalize(),
            "type": "enumeration" if options else kind,
            "fieldType": "select" if options else {"number": "number", "datetime": "date"}.get(kind, "text"),
            "description": "",
            "groupName": "dealinformation",
            "options": [],
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": name == "hubspot_owner_id",
            "hasUniqueValue": False,
            "hidden": False,
            "hubspotDefined": standard,
            "modificationMetadata": {
                "archivable": not standard,
                "readOnlyDefinition": standard,
                "readOnlyValue": read_only,
            },
            "formField": not read_only,
            "dataSensitivity": "non_sensitive",
            "archived": False,
        }

    def _list_properties(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, JSON]:
        if self._bool_param(query, "archived"):
            return 200, {"results": []}  # the fake never archives a property
        return 200, {"results": [self._render_property(name) for name in sorted(self.deal_properties)]}

    # ------------------------------------------------------------------ owners

    def _list_owners(
        self, params: dict[str, str], query: dict[str, list[str]], body: Any
    ) -> tuple[int, JSON]:
        limit = self._int_param(query, "limit", 100)
        if limit > OWNERS_LIMIT_MAX or limit < 1:
            raise _validation(f"limit must be between 1 and {OWNERS_LIMIT_MAX}, got {limit}")
        offset = self._int_param(query, "after", 0)
        archived = self._bool_param(query, "archived")
        email = (query.get("email") or [""])[0].strip().lower()
        owners = [
            owner
            for owner in self.owners.values()
            if owner["archived"] == archived and (not email or owner["email"].lower() == email)
        ]
        page = owners[offset : offset + limit]
        payload: JSON = {"results": page}
        if offset + limit < len(owners):
            after = str(offset + limit)
            payload["paging"] = {"next": {"after": after, "link": f"{self.url}/crm/v3/owners/?after={after}"}}
        return 200, payload

    def _get_owner(self, params: dict[str, str], query: dict[str, list[str]], body: Any) -> tuple[int, JSON]:
        owner = self.owners.get(params["id"])
        if owner is None or owner["archived"] != self._bool_param(query, "archived"):
            raise _ApiError(404, _error_body("resource not found", "OBJECT_NOT_FOUND"))
        return 200, owner
