"""Pacing by HubSpot's own rate-limit headers, against the fake HubSpot enforcing the portal's window.

The fake's window runs on the test's clock (`fake.monotonic`), and the adapter sleeps on it: a wait
moves time on at once, and the fake counts requests in the same 10-second windows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from time import monotonic as real_monotonic

import httpx
import pytest
from sqlalchemy import func, select

from bot.db import create_db_engine, session_factory
from bot.services import build_services
from integrations._ratelimit import CALLS, SEARCH, LocalWindow, Pacer, Taken
from integrations.base import CrmPaused, CrmUnavailable, DealUpdate, background_calls
from integrations.hubspot import HubSpotCRM
from integrations.shared_window import CrmCall, SharedWindow
from tests.cli import run_drumbeat
from tests.conftest import HUBSPOT_TOKEN, make_settings, start_app, stop_app
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.hubspot_helpers import FakeTime, deal_properties, fast_adapter, seed_team

ALLOWANCE = 100


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def portal(fake_hubspot: FakeHubSpot, time: FakeTime) -> FakeHubSpot:
    """A portal of ALLOWANCE requests per 10 s that answers 429 past it, on the test's clock."""
    seed_team(fake_hubspot)
    fake_hubspot.allowance = ALLOWANCE
    fake_hubspot.enforce_rate_limit = True
    fake_hubspot.monotonic = time.monotonic
    return fake_hubspot


def busiest_window(fake: FakeHubSpot, seconds: float = 10.0) -> int:
    """The most requests the fake received in any `seconds`-long window."""
    times = sorted(r.at for r in fake.requests)
    start = busiest = 0
    for end, at in enumerate(times):
        while at - times[start] >= seconds:
            start += 1
        busiest = max(busiest, end - start + 1)
    return busiest


def adapter(fake: FakeHubSpot, time: FakeTime, **options: object) -> HubSpotCRM:
    return fast_adapter(fake, time, requests_per_10s=ALLOWANCE, budget_share=0.8, **options)  # type: ignore[arg-type]


def test_with_another_integration_using_most_of_the_window_it_slows_down_before_any_429(
    portal: FakeHubSpot, time: FakeTime
) -> None:
    portal.other_integration_share = 0.7  # 70 of every 100: 30 left, of which Drumbeat takes 80%
    crm = adapter(portal, time)
    portal.reset_requests()
    for _ in range(60):
        crm.fetch_pipelines()
    assert portal.refused == 0
    assert busiest_window(portal) <= 24  # 0.8 x the 30 the other integration leaves
    assert time.now - 1_000.0 >= 20.0  # 60 calls at 24 per 10 s: it waited instead of meeting 429s
    budget = crm.api_budget()
    assert budget.portal_max == ALLOWANCE
    assert budget.allowed_per_window == 24


def test_alone_on_the_portal_it_uses_its_share_of_the_whole_allowance(
    portal: FakeHubSpot, time: FakeTime
) -> None:
    crm = adapter(portal, time)
    portal.reset_requests()
    for _ in range(200):
        crm.fetch_pipelines()
    assert portal.refused == 0
    assert busiest_window(portal) == 80


def test_a_429_halves_the_pace_and_it_recovers_slowly(portal: FakeHubSpot, time: FakeTime) -> None:
    crm = adapter(portal, time)
    crm.fetch_pipelines()
    portal.fail_next(1, status=429)
    crm.fetch_pipelines()
    assert crm.api_budget().allowed_per_window in (40, 41)  # 80 halved, then the retry's answer
    for _ in range(10):
        crm.fetch_pipelines()
    assert 40 < crm.api_budget().allowed_per_window < 80  # recovering a little with each answer


def test_a_search_429_halves_the_searches_per_second(portal: FakeHubSpot, time: FakeTime) -> None:
    portal.add_deals_bulk(1_000, deal_properties)
    portal.enforce_search_rate = True
    crm = adapter(portal, time, search_per_second=4)
    portal.fail_next(1, status=429, path_contains="/search")
    portal.reset_requests()
    assert sum(len(page.deals) for page in crm.iter_deals()) == 1_000
    searches = [r.at for r in portal.requests if r.path.endswith("/search")]
    assert len(searches) == 6  # the refused one, then 5 pages
    # After the 429, at most 2 searches a second: no second refusal.
    assert portal.refused == 1
    assert all(later - earlier >= 0.5 for earlier, later in zip(searches[1:], searches[3:], strict=False))


def test_a_sync_leaves_room_for_a_persons_write(portal: FakeHubSpot, time: FakeTime) -> None:
    deal_id = portal.add_deal(**deal_properties(1))
    crm = adapter(portal, time)
    with background_calls():
        for _ in range(72):  # 80 allowed, 8 kept for people: the sync's share of this window is used
            crm.fetch_pipelines()
    assert time.calls == []
    crm.update_deal(deal_id, DealUpdate(amount=Decimal("12000")))  # a PATCH and a GET
    assert time.calls == []  # a person's write did not wait behind the sync
    with background_calls():
        crm.fetch_pipelines()
    assert time.calls  # the sync's next call waited for the window


@pytest.fixture
def nearly_spent(portal: FakeHubSpot) -> FakeHubSpot:
    """Only 5% of the day's allowance is left (the floor is 10%)."""
    portal.daily_allowance = 10_000
    portal.use_daily(9_500)
    return portal


def test_under_the_daily_floor_syncs_pause_and_peoples_updates_go_through(
    nearly_spent: FakeHubSpot, time: FakeTime
) -> None:
    deal_id = nearly_spent.add_deal(**deal_properties(1))
    crm = adapter(nearly_spent, time)
    crm.check_access()  # any answer tells the day's remaining allowance
    budget = crm.api_budget()
    assert budget.background_paused
    paused = r"5% left, under the 10% floor.*people's updates still go through"
    with pytest.raises(CrmPaused, match=paused), background_calls():
        list(crm.iter_deals())
    updated = crm.update_deal(deal_id, DealUpdate(amount=Decimal("12000")))
    assert updated.amount == Decimal("12000")
    nearly_spent.daily_allowance = 1_000_000  # the day reset: a sync tries again a while later
    time.sleep(900)
    with background_calls():
        assert sum(len(page.deals) for page in crm.iter_deals()) == 1
    assert not crm.api_budget().background_paused


def test_the_daily_floor_is_shown_by_status_and_metrics(
    nearly_spent: FakeHubSpot, tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack
) -> None:
    env = {
        "DATABASE_URL": sqlite_url,
        "CRM": "hubspot",
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
        "HUBSPOT_API_URL": nearly_spent.url,
        "RITUALS_FILE": str(tmp_path / "none.yaml"),
    }
    nearly_spent.monotonic = real_monotonic  # real processes, real time
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    status = run_drumbeat("status", env=env, cwd=tmp_path)
    said = " ".join(status.stdout.split())  # as read, whatever the terminal's wrapping
    assert "Background syncs paused: the portal's daily API allowance is nearly spent (5% left" in said
    assert "today 494 of 10,000 left" in said  # 9,500 spent before, 6 by the health check
    assert status.returncode == 0  # people's updates still go through: not a failure
    assert "Traceback" not in status.stderr

    app = start_app(make_settings(sqlite_url, fake_slack, nearly_spent), worker=False)
    try:
        app.services.crm.check_access()  # what the app's health probe does first
        text = httpx.get(f"{app.url}/metrics").text
    finally:
        stop_app(app)
    assert "drumbeat_crm_background_paused 1.0" in text
    ratio = re.search(r"^drumbeat_crm_daily_remaining_ratio (\S+)$", text, re.MULTILINE)
    assert ratio is not None and 0.04 < float(ratio.group(1)) < 0.05
    assert HUBSPOT_TOKEN not in text


@pytest.fixture
def two_replicas(
    migrated_postgres_url: str, portal: FakeHubSpot, time: FakeTime, fake_slack: FakeSlack
) -> Iterator[tuple[HubSpotCRM, HubSpotCRM]]:
    """Two app instances on one PostgreSQL, each with its own HubSpot adapter sharing the window."""
    settings = make_settings(migrated_postgres_url, fake_slack, portal)
    apps, engines = [], []
    for _ in range(2):
        engines.append(engine := create_db_engine(migrated_postgres_url))
        window = SharedWindow(session_factory(engine), clock=time.monotonic)
        apps.append(start_app(settings, worker=False, crm=adapter(portal, time, call_window=window)))
    try:
        first, second = (app.services.crm for app in apps)
        assert isinstance(first, HubSpotCRM) and isinstance(second, HubSpotCRM)
        yield first, second
    finally:
        for app in apps:
            stop_app(app)
        for engine in engines:
            engine.dispose()


@pytest.mark.postgres
def test_on_postgresql_the_app_counts_its_calls_in_the_shared_window(
    migrated_postgres_url: str, portal: FakeHubSpot, fake_slack: FakeSlack
) -> None:
    portal.monotonic = real_monotonic  # the app's own adapter, on real time
    services = build_services(make_settings(migrated_postgres_url, fake_slack, portal))
    try:
        services.crm.check_access()  # two calls
        with services.sessions() as session:
            taken = session.scalar(select(func.count()).select_from(CrmCall).where(CrmCall.bucket == "calls"))
    finally:
        services.close()
    assert taken == 2


@pytest.mark.postgres
def test_two_replicas_together_stay_within_the_share(
    two_replicas: tuple[HubSpotCRM, HubSpotCRM], portal: FakeHubSpot
) -> None:
    first, second = two_replicas
    portal.reset_requests()
    for _ in range(120):
        first.fetch_pipelines()
        second.fetch_pipelines()
    assert portal.request_count() == 240
    assert portal.refused == 0
    assert busiest_window(portal) <= 80  # 0.8 of 100, for both together


def test_without_the_shared_window_two_replicas_take_more_than_the_share(
    portal: FakeHubSpot, time: FakeTime
) -> None:
    # The control for the test above: each alone, paced by headers only, together take more.
    first, second = adapter(portal, time), adapter(portal, time)
    portal.reset_requests()
    for _ in range(120):
        first.fetch_pipelines()
        second.fetch_pipelines()
    assert busiest_window(portal) > 80


def test_a_search_waiting_for_the_window_holds_one_search_slot_not_the_whole_second(time: FakeTime) -> None:
    """Otherwise one waiting search uses up the 4-a-second search allowance and starves the others."""

    class BusyWindow(LocalWindow):
        """The calls window stays full for three looks (other threads take each freed slot)."""

        busy_looks = 3

        def take(self, bucket: str, limit: int, period: float) -> Taken:
            if bucket == CALLS and self.busy_looks:
                self.busy_looks -= 1
                return Taken(0.2, limit)
            return super().take(bucket, limit, period)

    window = BusyWindow(time.monotonic)
    pacer = Pacer(
        allowance=10, share=1.0, search_per_second=4, window=window, clock=time.monotonic, sleep=time.sleep
    )
    pacer.acquire(search=True)
    assert time.calls == pytest.approx([0.2, 0.2, 0.2])  # it waited for the calls window
    assert window.take(SEARCH, 100, 1.0).in_window - 1 == 1  # and took one search slot, not four


def test_a_shared_window_out_of_reach_keeps_calls_waiting_as_a_crm_outage(tmp_path: Path) -> None:
    """The outbox keeps an update queued on CrmUnavailable; any other error would count as a bug."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'not-migrated.db'}")
    try:
        with pytest.raises(CrmUnavailable, match="shared count of HubSpot calls is out of reach"):
            SharedWindow(session_factory(engine)).take(CALLS, 10, 10.0)
    finally:
        engine.dispose()
