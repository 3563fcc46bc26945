"""HubSpot adapter: hubspot-api-client, paced by HubSpot's rate-limit headers, with our own retries.

The SDK's urllib3 retries are switched off so every retry goes through one place that knows
HubSpot's limits, honours Retry-After, and treats POST/PATCH retries with care. The SDK drops
response headers when it deserialises: each API object's urllib3 pool is wrapped (`_HeaderTap`) so
the rate-limit headers of every answer, 429s included, reach the pacer (`_ratelimit.Pacer`).
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time as dtime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from hubspot import HubSpot
from hubspot.crm.deals import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
    SimplePublicObjectInput,
)
from hubspot.crm.objects.notes import (
    BatchInputSimplePublicObjectBatchInputForCreate as NoteBatchInput,
    Filter as NoteFilter,
    FilterGroup as NoteFilterGroup,
    PublicObjectSearchRequest as NoteSearchRequest,
    SimplePublicObjectBatchInputForCreate as NoteBatchItem,
    SimplePublicObjectInputForCreate as NoteInput,
)
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.retry import Retry

from integrations._ratelimit import CallWindow, Pacer
from integrations._retry import RetryPolicy, parse_retry_after
from integrations.base import (
    EDITABLE_PROPERTIES,
    ApiBudget,
    BatchResult,
    CrmAuthError,
    CrmError,
    CrmNotFound,
    CrmRejected,
    CrmScopeMissing,
    CrmUnavailable,
    Deal,
    DealPage,
    DealUpdate,
    DealWritten,
    Note,
    NoteDraft,
    Owner,
    Pipeline,
    Stage,
    Team,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

DEAL_PROPERTIES = [
    "dealname",
    "hubspot_owner_id",
    "pipeline",
    *EDITABLE_PROPERTIES.values(),
    "deal_currency_code",
    "notes_last_updated",
    "hs_lastmodifieddate",
    "createdate",
    "hs_is_closed",
    "hs_is_closed_won",
    "closed_lost_reason",
]
SEARCH_PAGE_SIZE = 200  # HubSpot's maximum for search
SEARCH_RESULT_CAP = 10_000  # HubSpot's most results for one search query
BATCH_SIZE = 100  # HubSpot's maximum for batch reads
# The fields a rep edits by hand; a change to them from HubSpot's own UI or apps is a person's.
PERSON_EDITED_PROPERTIES = [
    *EDITABLE_PROPERTIES.values(),
    "dealname",
    "hubspot_owner_id",
]
PERSON_SOURCES = {"CRM_UI", "MOBILE_IOS", "MOBILE_ANDROID"}
LIST_PAGE_SIZE = 100
NOTE_TO_DEAL_ASSOCIATION = 214
NOTE_SEARCH_GROUPS = 5  # HubSpot's most filterGroups in one search: one note looked for in each
_NOTE_REF = re.compile(r"\(Drumbeat ref ([^()\s]+)\)")
RATE_LIMITED = "rate limited (429)"
SEARCH_REQUESTS_PER_SECOND = 4  # one under HubSpot's 5/s, for clock skew between us and them
# Scope HubSpot asks for, per kind of call, to name it when a 403 body does not.
_SCOPE_HINTS = {
    "owners": "crm.objects.owners.read",
    "notes": "crm.objects.contacts.write",
    "properties": "crm.schemas.deals.read",
}
# What this adapter calls, and the scope each needs (README "Connect HubSpot" lists the same):
# deals search/read/batch read and pipelines: deals.read; deal updates: deals.write; owners:
# owners.read; notes are gated by the contacts scopes (search: read, create: write).
REQUIRED_SCOPES = (
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "crm.objects.owners.read",
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
)
WHERE_TO_ADD_SCOPES = (
    "add them to the service key (HubSpot: Development > Keys > Service keys > your key > Scopes) "
    "or to the legacy private app's Scopes tab; HUBSPOT_ACCESS_TOKEN stays the same"
)
# An object id HubSpot never gives: probing writes against it changes nothing.
_NO_SUCH_ID = "0"
RATE_HEADERS = "x-hubspot-ratelimit-"


class _HeaderTap:
    """Keeps the rate-limit headers of the last answer each thread received, whatever its status."""

    def __init__(self) -> None:
        self._local = threading.local()

    def wrap(self, api: Any) -> Any:
        rest = api.api_client.rest_client
        rest.pool_manager = _TappedPool(rest.pool_manager, self)
        return api

    def clear(self) -> None:
        self._local.headers = None

    def last(self) -> dict[str, str] | None:
        headers: dict[str, str] | None = getattr(self._local, "headers", None)
        return headers

    def keep(self, headers: Any) -> None:
        self._local.headers = {
            name.lower(): str(value)
            for name, value in headers.items()
            if name.lower().startswith(RATE_HEADERS)
        }


class _TappedPool:
    """The SDK's urllib3 pool manager, with each response's headers handed to the tap."""

    def __init__(self, pool: Any, tap: _HeaderTap) -> None:
        self._pool = pool
        self._tap = tap

    def request(self, *args: Any, **kwargs: Any) -> Any:
        response = self._pool.request(*args, **kwargs)
        self._tap.keep(response.headers)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


class HubSpotCRM:
    name = "hubspot"

    def __init__(
        self,
        access_token: str,
        *,
        base_url: str = "https://api.hubapi.com",
        allowance: int = 100,
        budget_share: float = 0.8,
        daily_floor: float = 0.1,
        search_per_second: int = SEARCH_REQUESTS_PER_SECOND,
        call_window: CallWindow | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        portal_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`allowance`: the portal's requests per 10 s as configured (HubSpot's own Max lowers it);
        `budget_share`: Drumbeat's share of what other integrations leave, every replica together
        when they share `call_window` (default: a window in this process)."""
        client = HubSpot(access_token=access_token, host=base_url, retry=Retry(total=0, redirect=False))
        tap = self._tap = _HeaderTap()
        # Each attribute access on HubSpot() builds a new API client and pool: build them once.
        self._deals_search = tap.wrap(client.crm.deals.search_api)
        self._deals_basic = tap.wrap(client.crm.deals.basic_api)
        self._deals_batch = tap.wrap(client.crm.deals.batch_api)
        self._notes_batch = tap.wrap(client.crm.objects.notes.batch_api)
        self._pipelines = tap.wrap(client.crm.pipelines.pipelines_api)
        self._owners = tap.wrap(client.crm.owners.owners_api)
        self._properties = tap.wrap(client.crm.properties.core_api)
        self._notes_basic = tap.wrap(client.crm.objects.notes.basic_api)
        self._notes_search = tap.wrap(client.crm.objects.notes.search_api)
        self._pacer = Pacer(
            allowance=allowance,
            share=budget_share,
            search_per_second=search_per_second,
            daily_floor=daily_floor,
            window=call_window,
            clock=monotonic,
            sleep=sleep,
        )
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._sleep = sleep
        self._rng = random.Random()
        self.portal_id = portal_id

    # --- the CRM protocol ---

    def check_access(self) -> None:
        self._call("owners", lambda: self._owners.get_page(limit=1, _request_timeout=self._timeout))
        self._call(
            "deals",
            lambda: self._deals_basic.get_page(
                limit=1, properties=["dealname"], _request_timeout=self._timeout
            ),
        )

    def missing_scopes(self) -> list[str]:
        """Each kind of call Drumbeat makes, tried once in a way that changes nothing: reads of one
        item, and writes that HubSpot refuses after its scope check (a deal that does not exist, a
        note with an invalid timestamp). A 403 names the scope; anything else got past it."""
        timeout = self._timeout
        note = NoteInput(
            properties={"hs_timestamp": "not-a-date (Drumbeat scope check)"},
            associations=_note_associations(_NO_SUCH_ID),
        )
        probes: list[tuple[str, str, Callable[[], object]]] = [
            (
                "deals",
                "crm.objects.deals.read",
                lambda: self._deals_basic.get_page(limit=1, _request_timeout=timeout),
            ),
            (
                "pipelines",
                "crm.objects.deals.read",
                lambda: self._pipelines.get_all("deals", _request_timeout=timeout),
            ),
            (
                "owners",
                "crm.objects.owners.read",
                lambda: self._owners.get_page(limit=1, _request_timeout=timeout),
            ),
            (
                "notes",
                "crm.objects.contacts.read",
                lambda: self._notes_basic.get_page(limit=1, _request_timeout=timeout),
            ),
            (
                "deals",
                "crm.objects.deals.write",
                lambda: self._deals_basic.update(
                    _NO_SUCH_ID, SimplePublicObjectInput(properties={}), _request_timeout=timeout
                ),
            ),
            (
                "notes",
                "crm.objects.contacts.write",
                lambda: self._notes_basic.create(note, _request_timeout=timeout),
            ),
        ]
        missing: list[str] = []
        for what, hint, probe in probes:
            try:
                # Each probe names an object that does not exist: a 404 means the scope was accepted.
                self._call(what, probe, scope_hint=hint, gone_on_404=True)
            except CrmScopeMissing as exc:
                missing.extend(s for s in exc.scopes if s not in missing)
            except (CrmNotFound, CrmRejected):
                pass  # refused for the object or the value: the scope check passed
        return missing

    def fetch_pipelines(self) -> list[Pipeline]:
        response = self._call(
            "pipelines", lambda: self._pipelines.get_all("deals", _request_timeout=self._timeout)
        )
        return [_pipeline(p) for p in response.results if not p.archived]

    def fetch_owners(self) -> list[Owner]:
        owners: list[Owner] = []
        after: str | None = None
        while True:
            page = self._call(
                "owners",
                lambda after=after: self._owners.get_page(  # type: ignore[misc]
                    limit=LIST_PAGE_SIZE, after=after, archived=False, _request_timeout=self._timeout
                ),
            )
            owners.extend(_owner(o) for o in page.results)
            after = page.paging.next.after if page.paging and page.paging.next else None
            if after is None:
                return owners

    def fetch_deal_properties(self) -> set[str]:
        # A portal has a few hundred deal properties with options: plain JSON, not SDK models.
        response = self._call(
            "properties",
            lambda: _raw_json(
                self._properties.get_all(
                    "deals", archived=False, _request_timeout=self._timeout, _preload_content=False
                )
            ),
        )
        return {
            str(item["name"])
            for item in response.get("results") or []
            if isinstance(item, dict) and item.get("name") and not item.get("archived")
        }

    def iter_deals(self, modified_since: datetime | None = None) -> Iterator[DealPage]:
        """Keyset pagination on hs_object_id, 200 a page: each page is a fresh query (a `GT` filter moved
        past the last id), so the 10,000 cap never bites. Stops once the first page's total is read."""
        last_id = 0
        first = True
        total: int | None = None
        read = 0
        while True:
            filters = [Filter(property_name="hs_object_id", operator="GT", value=str(last_id))]
            if modified_since is not None:
                filters.append(
                    Filter(
                        property_name="hs_lastmodifieddate",
                        operator="GTE",
                        value=str(_epoch_ms(modified_since)),
                    )
                )
            request = PublicObjectSearchRequest(
                filter_groups=[FilterGroup(filters=filters)],
                sorts=[{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
                properties=DEAL_PROPERTIES,
                limit=SEARCH_PAGE_SIZE,
                after="0",
            )
            # The SDK's model deserialisation costs ~60 ms a page; plain JSON is enough here.
            response = self._call(
                "deals",
                lambda request=request: _raw_json(  # type: ignore[misc]
                    self._deals_search.do_search(
                        public_object_search_request=request,
                        _request_timeout=self._timeout,
                        _preload_content=False,
                    )
                ),
                search=True,
            )
            deals = [_deal(str(obj["id"]), obj.get("properties")) for obj in response.get("results") or []]
            if first:
                total = response.get("total") if isinstance(response.get("total"), int) else None
            yield DealPage(deals=deals, total=total if first else None)
            first = False
            read += len(deals)
            # A total under the search cap is exact (above it HubSpot may cap it): no empty last page.
            # Deals created meanwhile come after the total: the next incremental sync reads them.
            exact = total is not None and total < SEARCH_RESULT_CAP
            if len(deals) < SEARCH_PAGE_SIZE or (exact and total is not None and read >= total):
                return
            last_id = max(int(d.id) for d in deals)

    def get_deal(self, deal_id: str) -> Deal:
        obj = self._call(
            "deals",
            lambda: self._deals_basic.get_by_id(
                deal_id, properties=DEAL_PROPERTIES, _request_timeout=self._timeout
            ),
            gone_on_404=True,
        )
        return _deal(obj.id, obj.properties)

    def get_deals(self, deal_ids: Sequence[str]) -> list[Deal]:
        """Batch read, 100 ids a request; HubSpot answers 207 with `errors` for the ids it lacks."""
        unique = list(dict.fromkeys(deal_ids))
        deals: list[Deal] = []
        for start in range(0, len(unique), BATCH_SIZE):
            request = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=d) for d in unique[start : start + BATCH_SIZE]],
                properties=DEAL_PROPERTIES,
                properties_with_history=[],
            )
            response = self._call(
                "deals",
                lambda request=request: _raw_json(  # type: ignore[misc]
                    self._deals_batch.read(
                        request, archived=False, _request_timeout=self._timeout, _preload_content=False
                    )
                ),
            )
            deals.extend(
                _deal(str(obj["id"]), obj.get("properties"))
                for obj in response.get("results") or []
                if isinstance(obj, dict) and obj.get("id") is not None and not obj.get("archived")
            )
        return deals

    def update_deal(self, deal_id: str, update: DealUpdate) -> Deal:
        properties = _update_properties(update)
        body = SimplePublicObjectInput(properties=properties)
        # A PATCH that sets the same values is safe to repeat.
        self._call(
            "deals",
            lambda: self._deals_basic.update(deal_id, body, _request_timeout=self._timeout),
            gone_on_404=True,
        )
        return self.get_deal(deal_id)

    def update_deals(self, updates: Mapping[str, DealUpdate]) -> BatchResult[DealWritten]:
        """Batch update, 100 deals a request. The answer carries each deal's id and the properties
        HubSpot returned: no read after the write. A refused value refuses only its own deal: a 207
        names it in `errors`; a 400 for the whole batch is sent again without the inputs it names,
        or split in halves until the refused one stands alone, so the others still land."""
        result: BatchResult[DealWritten] = BatchResult()
        items = list(updates.items())
        for start in range(0, len(items), BATCH_SIZE):
            self._update_batch(dict(items[start : start + BATCH_SIZE]), result)
        return result

    def add_notes(self, notes: Sequence[NoteDraft], *, look_first: Collection[str] = ()) -> BatchResult[Note]:
        """Batch create, 100 notes a request, each associated with its deal; only the notes in
        `look_first` are searched for first (five to a search), so the happy path makes none."""
        result: BatchResult[Note] = BatchResult()
        todo = list({note.idempotency_key: note for note in notes}.values())
        maybe_made = [note for note in todo if note.idempotency_key in look_first]
        if maybe_made:
            result.done.update(self._find_notes(maybe_made))
            todo = [note for note in todo if note.idempotency_key not in result.done]
        for start in range(0, len(todo), BATCH_SIZE):
            self._create_notes(todo[start : start + BATCH_SIZE], result)
        return result

    def add_note(self, deal_id: str, body: str, *, timestamp: datetime, idempotency_key: str) -> Note:
        existing = self._find_note(deal_id, idempotency_key)
        if existing is not None:
            return existing
        note_input = NoteInput(
            properties=_note_properties(NoteDraft(deal_id, body, timestamp, idempotency_key)),
            associations=_note_associations(deal_id),
        )
        # A POST is not safe to repeat blindly: before retrying, look for a note the failed try made.
        created = self._call(
            "notes",
            lambda: self._notes_basic.create(note_input, _request_timeout=self._timeout),
            before_retry=lambda: self._find_note(deal_id, idempotency_key),
        )
        if isinstance(created, Note):
            return created
        return Note(id=str(created.id), deal_id=deal_id, body=body, timestamp=timestamp)

    def person_changes(self, deal_ids: list[str]) -> dict[str, datetime]:
        """Property history of the fields a rep edits, read 100 deals a request (HubSpot's batch size)."""
        changed: dict[str, datetime] = {}
        for start in range(0, len(deal_ids), BATCH_SIZE):
            request = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=d) for d in deal_ids[start : start + BATCH_SIZE]],
                properties=["hs_object_id"],
                properties_with_history=PERSON_EDITED_PROPERTIES,
            )
            response = self._call(
                "deals",
                lambda request=request: _raw_json(  # type: ignore[misc]
                    self._deals_batch.read(
                        request, archived=False, _request_timeout=self._timeout, _preload_content=False
                    )
                ),
            )
            for obj in response.get("results") or []:
                latest = _latest_person_change(obj.get("propertiesWithHistory") or {})
                if latest is not None:
                    changed[str(obj["id"])] = latest
        return changed

    def api_budget(self) -> ApiBudget:
        return self._pacer.budget()

    def deal_url(self, deal_id: str) -> str:
        if self.portal_id:
            return f"https://app.hubspot.com/contacts/{self.portal_id}/record/0-3/{deal_id}"
        return f"https://app.hubspot.com/go-to/0-3/{deal_id}"

    # --- plumbing ---

    def _update_batch(self, updates: dict[str, DealUpdate], result: BatchResult[DealWritten]) -> None:
        pending = dict(updates)
        while pending:
            request = BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    SimplePublicObjectBatchInput(id=deal_id, properties=_update_properties(update))
                    for deal_id, update in pending.items()
                ]
            )
            try:
                # The same values again change nothing: a batch update is safe to repeat.
                response = self._call(
                    "deals",
                    lambda request=request: _raw_json(  # type: ignore[misc]
                        self._deals_batch.update(
                            request, _request_timeout=self._timeout, _preload_content=False
                        )
                    ),
                )
            except CrmRejected as exc:  # the whole batch refused for what some inputs hold
                named = [deal_id for deal_id in exc.ids if deal_id in pending]
                if len(pending) == 1 or len(named) == 1:
                    refused = named[0] if named else next(iter(pending))
                    result.refused[refused] = exc
                    del pending[refused]
                    continue
                # Several refused, or none named: halves, until each refused one stands alone.
                ids = named or list(pending)
                halves = [ids[: len(ids) // 2], ids[len(ids) // 2 :]] if not named else [[i] for i in ids]
                for part in halves:
                    self._update_batch({deal_id: pending.pop(deal_id) for deal_id in part}, result)
                continue
            for obj in response.get("results") or []:
                deal_id = str(obj.get("id")) if isinstance(obj, dict) else ""
                if deal_id in pending:
                    result.done[deal_id] = DealWritten(deal_id, _deal_fields(obj.get("properties") or {}))
            for deal_id, error in _batch_errors(response, "deal").items():
                if deal_id in pending and deal_id not in result.done:
                    result.refused[deal_id] = error
            unanswered = [d for d in pending if d not in result.done and d not in result.refused]
            if unanswered:
                raise CrmUnavailable(f"HubSpot did not say what became of deals {', '.join(unanswered)}.")
            return

    def _create_notes(self, notes: Sequence[NoteDraft], result: BatchResult[Note]) -> None:
        pending = {note.idempotency_key: note for note in notes}
        while pending:
            request = NoteBatchInput(
                inputs=[
                    NoteBatchItem(
                        properties=_note_properties(note),
                        associations=_note_associations(note.deal_id),
                        # Multi-status errors name an input by its trace id: the note's key.
                        object_write_trace_id=note.idempotency_key,
                    )
                    for note in pending.values()
                ]
            )
            try:
                # A POST is not safe to repeat blindly: before retrying, look for notes the failed try made.
                answer: Any = self._call(
                    "notes",
                    lambda request=request: _raw_json(  # type: ignore[misc]
                        self._notes_batch.create(
                            request, _request_timeout=self._timeout, _preload_content=False
                        )
                    ),
                    before_retry=lambda: self._find_notes(list(pending.values())) or None,
                )
            except CrmRejected as exc:  # all or nothing: find the refused note by halves
                if len(pending) == 1:
                    result.refused[next(iter(pending))] = exc
                    return
                keys = list(pending)
                for part in (keys[: len(keys) // 2], keys[len(keys) // 2 :]):
                    self._create_notes([pending[key] for key in part], result)
                return
            if "results" not in answer:  # notes a failed try made: write only the others
                for key, note in answer.items():
                    result.done[key] = note
                    pending.pop(key, None)
                continue
            for obj in answer.get("results") or []:
                found = _note_of(obj, pending)
                if found is not None:
                    result.done[found.idempotency_key] = Note(
                        id=str(obj["id"]), deal_id=found.deal_id, body=found.body, timestamp=found.timestamp
                    )
            for error in answer.get("errors") or []:  # a 207: some refused, the others made
                message = str(error.get("message") or "invalid note") if isinstance(error, dict) else ""
                for key in _trace_ids(error):
                    if key in pending and key not in result.done:
                        result.refused[key] = CrmRejected(
                            f"HubSpot refused the note: {message}", detail=message
                        )
            unanswered = [key for key in pending if key not in result.done and key not in result.refused]
            if unanswered:
                raise CrmUnavailable(
                    "HubSpot did not say what became of some notes; they will be looked for."
                )
            return

    def _find_note(self, deal_id: str, idempotency_key: str) -> Note | None:
        return self._find_notes([NoteDraft(deal_id, "", datetime.now(UTC), idempotency_key)]).get(
            idempotency_key
        )

    def _find_notes(self, notes: Sequence[NoteDraft]) -> dict[str, Note]:
        """The notes already made for these drafts, by key: five looked for in each search."""
        found: dict[str, Note] = {}
        for start in range(0, len(notes), NOTE_SEARCH_GROUPS):
            group = notes[start : start + NOTE_SEARCH_GROUPS]
            request = NoteSearchRequest(
                filter_groups=[
                    NoteFilterGroup(
                        filters=[
                            NoteFilter(property_name="associations.deal", operator="EQ", value=note.deal_id),
                            NoteFilter(
                                property_name="hs_note_body",
                                operator="CONTAINS_TOKEN",
                                value=note.idempotency_key,
                            ),
                        ]
                    )
                    for note in group
                ],
                properties=["hs_note_body", "hs_timestamp"],
                limit=SEARCH_PAGE_SIZE,
            )
            response = self._call(
                "notes",
                lambda request=request: self._notes_search.do_search(  # type: ignore[misc]
                    public_object_search_request=request, _request_timeout=self._timeout
                ),
                search=True,
            )
            wanted = {note.idempotency_key: note for note in group}
            for obj in response.results:
                props = obj.properties or {}
                body = props.get("hs_note_body") or ""
                ref = _NOTE_REF.search(body)
                if ref is None or ref.group(1) not in wanted or ref.group(1) in found:
                    continue
                found[ref.group(1)] = Note(
                    id=str(obj.id),
                    deal_id=wanted[ref.group(1)].deal_id,
                    body=body,
                    timestamp=_parse_datetime(props.get("hs_timestamp")) or datetime.now(UTC),
                )
        return found

    def _call(
        self,
        what: str,
        fn: Callable[[], T],
        *,
        search: bool = False,
        before_retry: Callable[[], Any] | None = None,
        scope_hint: str | None = None,
        gone_on_404: bool = False,
    ) -> T:
        """Call HubSpot with retries. `gone_on_404`: only an endpoint addressing one object by id may
        read a 404 as "that object is gone"; elsewhere (a search, a create) it is a fault to retry."""
        attempt = 0
        while True:
            attempt += 1
            in_window = self._pacer.acquire(search=search)
            self._tap.clear()
            try:
                result = fn()
            except Urllib3Error as exc:
                problem, retry_after = f"network error ({type(exc).__name__})", None
            except Exception as exc:
                status = getattr(exc, "status", None)
                if not isinstance(status, int):
                    raise
                if status == 0:  # the SDK's way of reporting a TLS failure
                    problem, retry_after = "network error (TLS)", None
                else:
                    if status != 429:  # an answer all the same: its headers count
                        self._pacer.observe(self._tap.last(), in_window=in_window, search=search)
                    problem, retry_after = self._classify(what, status, exc, scope_hint, gone_on_404)
            else:
                self._pacer.observe(self._tap.last(), in_window=in_window, search=search)
                return result
            if attempt >= self._retry.max_attempts:
                raise CrmUnavailable(
                    f"HubSpot is not answering: {problem} after {attempt} attempts; try again later."
                )
            delay = self._retry.delay(attempt, retry_after, self._rng)
            if problem == RATE_LIMITED:
                # Other threads sharing this token back off too, instead of meeting the same 429.
                self._pacer.observe(self._tap.last(), in_window=in_window, search=search, ok=False)
                self._pacer.rate_limited(search=search, delay=delay)
            log.warning(
                "HubSpot %s request failed (%s); retrying in %.1fs",
                what,
                problem,
                delay,
                extra={"attempt": attempt},
            )
            self._sleep(delay)
            if before_retry is not None:
                found = before_retry()
                if found is not None:
                    return found  # type: ignore[no-any-return]

    def _classify(
        self,
        what: str,
        status: int,
        exc: Exception,
        scope_hint: str | None = None,
        gone_on_404: bool = False,
    ) -> tuple[str, float | None]:
        """Raise for permanent errors; return (problem, retry_after) for transient ones."""
        body = _json_body(exc)
        message = str(body.get("message") or "").strip()
        if status == 401:
            raise CrmAuthError(
                "HubSpot rejected the access token (401): check HUBSPOT_ACCESS_TOKEN "
                "(a service key or private app token that has not been rotated or deleted)."
            )
        if status == 403:
            scopes = _required_scopes(body) or [
                scope_hint or _SCOPE_HINTS.get(what, f"crm.objects.{what}.read")
            ]
            raise CrmScopeMissing(
                f"HubSpot token is missing scope {', '.join(scopes)} (403): {WHERE_TO_ADD_SCOPES}.",
                scopes,
            )
        if status == 404:
            if gone_on_404:
                raise CrmNotFound(f"HubSpot has no such {what.rstrip('s')} (it may have been deleted).")
            # A 404 from a search or a create says nothing about the deal: never drop it for that.
            return f"not found (404) from the {what} endpoint", None
        if status == 429:
            headers = getattr(exc, "headers", None) or {}
            return RATE_LIMITED, parse_retry_after(headers.get("Retry-After"))
        if status >= 500:
            return f"server error ({status})", None
        detail = message or f"HTTP {status}"
        raise CrmRejected(f"HubSpot refused the change: {detail}", _context_ids(body), detail=detail)


def _latest_person_change(history: dict[str, Any]) -> datetime | None:
    stamps = [
        _parse_datetime(entry.get("timestamp"))
        for entries in history.values()
        for entry in entries or []
        if isinstance(entry, dict) and entry.get("sourceType") in PERSON_SOURCES
    ]
    found = [s for s in stamps if s is not None]
    return max(found) if found else None


def _raw_json(response: Any) -> dict[str, Any]:
    """Read an undeserialised SDK response (`_preload_content=False`) as JSON."""
    try:
        parsed = json.loads(response.data)
    finally:
        response.release_conn()
    if not isinstance(parsed, dict):
        raise CrmUnavailable("HubSpot sent a response Drumbeat could not read.")
    return parsed


def _json_body(exc: Exception) -> dict[str, Any]:
    raw = getattr(exc, "body", None)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _required_scopes(body: dict[str, Any]) -> list[str]:
    scopes: list[str] = []
    for error in body.get("errors") or []:
        context = error.get("context") if isinstance(error, dict) else None
        if isinstance(context, dict):
            for key in ("requiredGranularScopes", "requiredScopes"):
                scopes.extend(str(s) for s in context.get(key) or [])
    return scopes


def _pipeline(raw: Any) -> Pipeline:
    stages = tuple(
        sorted(
            (_stage(s) for s in raw.stages if not s.archived),
            key=lambda s: s.display_order,
        )
    )
    return Pipeline(id=str(raw.id), label=raw.label, display_order=raw.display_order or 0, stages=stages)


def _stage(raw: Any) -> Stage:
    metadata = raw.metadata or {}
    is_closed = str(metadata.get("isClosed", "false")).lower() == "true"
    probability = _parse_float(metadata.get("probability"))
    return Stage(
        id=str(raw.id),
        label=raw.label,
        display_order=raw.display_order or 0,
        probability=probability,
        is_closed=is_closed,
        is_won=is_closed and probability == 1.0,
    )


def _owner(raw: Any) -> Owner:
    return Owner(
        id=str(raw.id),
        email=raw.email,
        first_name=raw.first_name or "",
        last_name=raw.last_name or "",
        archived=bool(raw.archived),
        teams=tuple(Team(id=str(t.id), name=t.name or str(t.id)) for t in (raw.teams or [])),
    )


_DEFAULT_DEAL: dict[str, Any] = {
    "name": "(unnamed deal)",
    "owner_id": None,
    "pipeline_id": "default",
    "stage_id": "",
    "amount": None,
    "currency": None,
    "close_date": None,
    "next_step": None,
    "last_activity_at": None,
    "created_at": None,
    "is_closed": False,
    "is_won": False,
    "closed_lost_reason": None,
}
# Each deal property Drumbeat reads: the `Deal` field it fills and how its text is read.
_PROPERTY_FIELDS: dict[str, tuple[str, Callable[[str | None], Any]]] = {
    "dealname": ("name", lambda v: v or "(unnamed deal)"),
    "hubspot_owner_id": ("owner_id", lambda v: v or None),
    "pipeline": ("pipeline_id", lambda v: v or "default"),
    EDITABLE_PROPERTIES["stage_id"]: ("stage_id", lambda v: v or ""),
    EDITABLE_PROPERTIES["amount"]: ("amount", lambda v: _parse_amount(v)),
    "deal_currency_code": ("currency", lambda v: v or None),
    EDITABLE_PROPERTIES["close_date"]: ("close_date", lambda v: _parse_date(v)),
    EDITABLE_PROPERTIES["next_step"]: ("next_step", lambda v: v or None),
    "notes_last_updated": ("last_activity_at", lambda v: _parse_datetime(v)),
    "hs_lastmodifieddate": ("last_modified_at", lambda v: _parse_datetime(v) or datetime.now(UTC)),
    "createdate": ("created_at", lambda v: _parse_datetime(v)),
    "hs_is_closed": ("is_closed", lambda v: (v or "").lower() == "true"),
    "hs_is_closed_won": ("is_won", lambda v: (v or "").lower() == "true"),
    "closed_lost_reason": ("closed_lost_reason", lambda v: v or None),
}


def _deal_fields(props: dict[str, str | None]) -> dict[str, object]:
    """The `Deal` fields these properties give, only those present (a write's answer holds some)."""
    return {field: read(props.get(prop)) for prop, (field, read) in _PROPERTY_FIELDS.items() if prop in props}


def _deal(deal_id: str, props: dict[str, str | None] | None) -> Deal:
    fields = {"last_modified_at": datetime.now(UTC), **_DEFAULT_DEAL, **_deal_fields(props or {})}
    return Deal(id=str(deal_id), **fields)


def _batch_errors(response: dict[str, Any], what: str) -> dict[str, CrmError]:
    """A 207's `errors`, by the input ids each names (`context.ids`)."""
    refused: dict[str, CrmError] = {}
    for error in response.get("errors") or []:
        if not isinstance(error, dict):
            continue
        message = str(error.get("message") or "").strip()
        for object_id in _context_ids(error):
            if error.get("category") == "OBJECT_NOT_FOUND":
                refused[object_id] = CrmNotFound(f"HubSpot has no such {what} (it may have been deleted).")
            else:
                refused[object_id] = CrmRejected(
                    f"HubSpot refused the change: {message or 'invalid value'}", detail=message or None
                )
    return refused


def _context_ids(error: dict[str, Any]) -> list[str]:
    context = error.get("context")
    ids = context.get("ids") if isinstance(context, dict) else None
    return [str(i) for i in ids] if isinstance(ids, list) else []


def _trace_ids(error: Any) -> list[str]:
    """The `objectWriteTraceId`s a multi-status error names (on the error or in its context)."""
    if not isinstance(error, dict):
        return []
    context = error.get("context")
    in_context = context.get("objectWriteTraceId") if isinstance(context, dict) else None
    named = error.get("objectWriteTraceId") or in_context or []
    return [str(named)] if isinstance(named, str) else [str(n) for n in named]


def _note_properties(note: NoteDraft) -> dict[str, str]:
    return {
        "hs_note_body": f"{note.body}\n\n(Drumbeat ref {note.idempotency_key})",
        "hs_timestamp": _iso(note.timestamp),
    }


def _note_associations(deal_id: str) -> list[dict[str, Any]]:
    return [
        {
            "to": {"id": deal_id},
            "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_DEAL_ASSOCIATION}
            ],
        }
    ]


def _note_of(obj: Any, pending: Mapping[str, NoteDraft]) -> NoteDraft | None:
    """Which draft a created note is: batch create does not promise its answer's order, the ref does."""
    props = obj.get("properties") if isinstance(obj, dict) else None
    ref = _NOTE_REF.search(str((props or {}).get("hs_note_body") or ""))
    return pending.get(ref.group(1)) if ref else None


def _update_properties(update: DealUpdate) -> dict[str, str]:
    properties = dict(update.extra)
    for field, prop in EDITABLE_PROPERTIES.items():
        value = getattr(update, field)
        if value is not None:
            properties[prop] = _property_value(value)
    if update.closed_lost_reason is not None:
        properties["closed_lost_reason"] = update.closed_lost_reason
    return properties


def _property_value(value: object) -> str:
    """A field's value as HubSpot writes it."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):  # closedate is a datetime property: midnight UTC of the chosen day
        return _iso(datetime.combine(value, dtime(0), tzinfo=UTC))
    return str(value)


def _parse_amount(value: str | None) -> Decimal | None:
    if value is None or not value.strip():
        return None
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        return None


def _parse_float(value: object) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


def _parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_date(value: str | None) -> date | None:
    parsed = _parse_datetime(value)
    return parsed.astimezone(UTC).date() if parsed else None


def _epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
