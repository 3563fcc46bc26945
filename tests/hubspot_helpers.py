"""Helpers for tests that run the real HubSpot adapter against the fake HubSpot server."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from integrations._ratelimit import CallWindow
from integrations._retry import RetryPolicy
from integrations.hubspot import HubSpotCRM
from tests.fakes.hubspot import FakeHubSpot


class FakeTime:
    """Injected instead of time.sleep/time.monotonic: sleeping records the wait and moves time on."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.calls: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.calls.append(seconds)
        self.now += seconds


def fast_adapter(
    fake: FakeHubSpot,
    time: FakeTime | None = None,
    *,
    max_attempts: int = 4,
    requests_per_10s: int = 100_000,
    budget_share: float = 1.0,
    search_per_second: int = 100_000,
    daily_floor: float = 0.1,
    call_window: CallWindow | None = None,
) -> HubSpotCRM:
    """The real adapter with injected time, generous limits unless told (the fake is local).
    `requests_per_10s`: the portal's allowance as configured, of which it uses `budget_share`."""
    time = time or FakeTime()
    return HubSpotCRM(
        fake.token,
        base_url=fake.url,
        allowance=requests_per_10s,
        budget_share=budget_share,
        daily_floor=daily_floor,
        call_window=call_window,
        search_per_second=search_per_second,
        retry=RetryPolicy(max_attempts=max_attempts, base_delay=0.5, max_delay=8.0),
        sleep=time.sleep,
        monotonic=time.monotonic,
    )


def seed_team(fake: FakeHubSpot) -> None:
    fake.add_default_pipeline()
    fake.add_owner("101", "alice@acme.example", "Alice", "Martin")
    fake.add_owner("102", "bruno@acme.example", "Bruno", "Costa")


def deal_properties(i: int) -> Mapping[str, str | None]:
    stages = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "contractsent", "closedwon"]
    return {
        "dealname": f"Deal {i}",
        "pipeline": "default",
        "dealstage": stages[i % len(stages)],
        "amount": str(1000 + i) if i % 10 else None,
        "hubspot_owner_id": "101" if i % 2 else "102",
        "closedate": "2026-12-15T00:00:00Z",
    }


def backdate(fake: FakeHubSpot, hours: float) -> None:
    """Make the fake stamp writes `hours` ago, so later writes clearly stand out from them."""
    start = datetime.now(UTC) - timedelta(hours=hours)
    fake.clock = lambda: start


DEAL_BATCH_UPDATE = "/crm/v3/objects/deals/batch/update"
NOTE_BATCH_CREATE = "/crm/v3/objects/notes/batch/create"


def deal_writes(fake: FakeHubSpot) -> list[tuple[str, dict[str, str]]]:
    """Every deal input of every batch update the fake received, in order: (deal id, properties)."""
    return [
        (str(item["id"]), dict(item["properties"]))
        for request in list(fake.requests)
        if request.method == "POST" and request.path.rstrip("/") == DEAL_BATCH_UPDATE
        for item in request.body["inputs"]
    ]
