"""The CRM adapter interface: plain data types and the `CRM` protocol every adapter implements."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Stage:
    id: str
    label: str
    display_order: int
    probability: float | None
    is_closed: bool
    is_won: bool


@dataclass(frozen=True, slots=True)
class Pipeline:
    id: str
    label: str
    display_order: int
    stages: tuple[Stage, ...]

    def stage(self, stage_id: str) -> Stage | None:
        return next((s for s in self.stages if s.id == stage_id), None)


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Owner:
    id: str
    email: str | None
    first_name: str
    last_name: str
    archived: bool = False
    teams: tuple[Team, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or (self.email or self.id)


@dataclass(frozen=True, slots=True)
class Deal:
    id: str
    name: str
    owner_id: str | None
    pipeline_id: str
    stage_id: str
    amount: Decimal | None
    currency: str | None
    close_date: date | None
    next_step: str | None
    last_activity_at: datetime | None
    last_modified_at: datetime
    created_at: datetime | None
    is_closed: bool
    is_won: bool
    closed_lost_reason: str | None = None


EDITABLE_PROPERTIES: dict[str, str] = {
    "stage_id": "dealstage",
    "amount": "amount",
    "close_date": "closedate",
    "next_step": "hs_next_step",
}
"""The deal fields a person edits from Slack, as `Deal` and `DealUpdate` name them, and the CRM
property each is stored in (HubSpot's names, which the demo CRM keeps too). `core.deals.fields`
builds the editable-field table on this; adapters map properties with it."""


@dataclass(frozen=True, slots=True)
class DealUpdate:
    """Fields to change on a deal; None means "leave as it is"."""

    stage_id: str | None = None
    amount: Decimal | None = None
    close_date: date | None = None
    next_step: str | None = None
    closed_lost_reason: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Note:
    id: str
    deal_id: str
    body: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class NoteDraft:
    """A note to log on a deal; `idempotency_key` makes a second write of it find the first."""

    deal_id: str
    body: str
    timestamp: datetime
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class DealWritten:
    """What the CRM answered for one deal of a batch update: the `Deal` fields it returned (by
    `Deal`'s names), to lay over what Drumbeat already knows of the deal. No read after a write."""

    deal_id: str
    fields: dict[str, object]


@dataclass(frozen=True, slots=True)
class BatchResult(Generic[T]):
    """A batch write's outcome per input: `done` by key, and `refused` by key with the error a
    person can read (CrmRejected for a value, CrmNotFound for a deal gone). Keys: deal ids for
    updates, idempotency keys for notes. A fault of the whole batch (outage, token) is raised."""

    done: dict[str, T] = field(default_factory=dict)
    refused: dict[str, CrmError] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DealPage:
    """One page of deals and, when the CRM says, how many match in all (for progress bars)."""

    deals: list[Deal]
    total: int | None


class CrmError(Exception):
    """Base of every error a CRM adapter raises; the message is safe to show a person."""


class CrmAuthError(CrmError):
    """The token was rejected or lacks a scope; retrying will not help."""


class CrmScopeMissing(CrmAuthError):
    """The token lacks scopes; `scopes` names them as the CRM spells them."""

    def __init__(self, message: str, scopes: Sequence[str]) -> None:
        super().__init__(message)
        self.scopes = list(scopes)


class CrmUnavailable(CrmError):
    """The CRM did not answer usefully after retries (outage, rate limit, network)."""


class CrmPaused(CrmUnavailable):
    """Background work waits: the CRM's daily allowance is nearly spent (people's updates still go)."""


class CrmRejected(CrmError):
    """The CRM refused the request for a reason a person can fix (e.g. an invalid value); `ids`
    are the inputs of a batch the CRM named as refused, when it named them; `detail` is the CRM's
    own words, which a message in the reader's language quotes as they are."""

    def __init__(self, message: str, ids: Sequence[str] = (), *, detail: str | None = None) -> None:
        super().__init__(message)
        self.ids = tuple(ids)
        self.detail = detail or message


class CrmNotFound(CrmError):
    """The object does not exist (or was deleted) in the CRM."""


@dataclass(frozen=True, slots=True)
class ApiBudget:
    """The CRM's allowance as its last answers told it, and what Drumbeat allows itself of it."""

    allowed_per_window: int
    """Requests per window Drumbeat allows itself now (every replica together, people's first)."""
    window_seconds: float
    portal_max: int | None
    portal_remaining: int | None
    daily: int | None
    daily_remaining: int | None
    daily_floor: float
    background_paused: bool
    rate_limited: int
    """Requests answered 429 since this process started."""

    @property
    def daily_left_share(self) -> float | None:
        if not self.daily or self.daily_remaining is None:
            return None
        return self.daily_remaining / self.daily

    def pause_reason(self) -> str | None:
        share = self.daily_left_share
        if not self.background_paused or share is None:
            return None
        return (
            f"the portal's daily API allowance is nearly spent ({share:.0%} left, under the "
            f"{self.daily_floor:.0%} floor): background syncs pause until it resets; "
            "people's updates still go through"
        )


_background: ContextVar[bool] = ContextVar("crm_background", default=False)


@contextmanager
def background_calls() -> Iterator[None]:
    """CRM calls made inside are background work (a sync): they leave room for people's writes
    and pause when the daily allowance falls under its floor."""
    token = _background.set(True)
    try:
        yield
    finally:
        _background.reset(token)


def in_background() -> bool:
    return _background.get()


class CRM(Protocol):
    """What Drumbeat needs from a CRM. Adapters live beside this module."""

    name: str

    def check_access(self) -> None:
        """Raise CrmAuthError when the credentials are refused, CrmUnavailable when unreachable."""

    def missing_scopes(self) -> list[str]:
        """The permissions Drumbeat needs that the token lacks, by the CRM's name for them (none for a
        CRM without scopes). Changes nothing in the CRM. Raises like `check_access` otherwise."""
        ...

    def fetch_pipelines(self) -> list[Pipeline]: ...

    def fetch_owners(self) -> list[Owner]: ...

    def fetch_deal_properties(self) -> set[str]:
        """Internal names of the properties deals have (standard and custom, not archived)."""
        ...

    def iter_deals(self, modified_since: datetime | None = None) -> Iterator[DealPage]:
        """Every deal (open or closed) modified at or after `modified_since` (all when None), in pages."""
        ...

    def get_deal(self, deal_id: str) -> Deal:
        """The deal as the CRM has it now; CrmNotFound when it is gone."""
        ...

    def get_deals(self, deal_ids: Sequence[str]) -> list[Deal]:
        """The deals as the CRM has them now, in as few requests as it allows; ids it does not
        return (deleted, archived, never existed) are simply absent. Duplicates are read once."""
        ...

    def update_deal(self, deal_id: str, update: DealUpdate) -> Deal: ...

    def update_deals(self, updates: Mapping[str, DealUpdate]) -> BatchResult[DealWritten]:
        """Write many deals' changes in as few requests as the CRM allows (HubSpot: 100 a batch);
        a refused value refuses only its own deal, the others are written."""
        ...

    def add_note(self, deal_id: str, body: str, *, timestamp: datetime, idempotency_key: str) -> Note:
        """Log a note on a deal; a second call with the same key returns the first note."""
        ...

    def add_notes(self, notes: Sequence[NoteDraft], *, look_first: Collection[str] = ()) -> BatchResult[Note]:
        """Log many notes in as few requests as the CRM allows. Notes whose key is in `look_first`
        (a write that may have been made before: a retry after a crash) are looked for first and
        not made again; the others are written without a look."""
        ...

    def deal_url(self, deal_id: str) -> str: ...

    def api_budget(self) -> ApiBudget | None:
        """What the CRM's rate-limit answers said last (None for a CRM without limits)."""
        ...

    def person_changes(self, deal_ids: list[str]) -> dict[str, datetime]:
        """When a person last changed each deal's main fields in the CRM itself (not an app or a
        workflow); deals with no such change are left out."""
        ...
