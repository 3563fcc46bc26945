"""`drumbeat sync` against the fake HubSpot: request budgets, incremental runs, deletions, rate limits."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.mirror.sync import sync_mirror
from core.models import MirrorDeal, MirrorOwner, MirrorStage
from tests.cli import run_drumbeat
from tests.conftest import HUBSPOT_TOKEN
from tests.fakes.hubspot import FakeHubSpot
from tests.hubspot_helpers import backdate, deal_properties, fast_adapter, seed_team

DEALS = 25_000


def _mirrored(sessions: Any) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(MirrorDeal)) or 0


@pytest.mark.slow
def test_25000_deals_first_run_and_an_unchanged_second_run_stay_within_budget(
    sqlite_url: str, fake_hubspot: FakeHubSpot, tmp_path: Path
) -> None:
    seed_team(fake_hubspot)
    start = datetime.now(UTC) - timedelta(days=200)

    def spread_over_weeks(i: int) -> dict[str, str | None]:
        # One change every 10 minutes: wider than the 5-minute overlap, so it re-reads a single deal.
        modified = start + timedelta(minutes=10 * i)
        return {**deal_properties(i), "hs_lastmodifieddate": str(int(modified.timestamp() * 1000))}

    fake_hubspot.add_deals_bulk(DEALS, spread_over_weeks)
    env = {
        "DATABASE_URL": sqlite_url,
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
        "HUBSPOT_API_URL": fake_hubspot.url,
        "HUBSPOT_REQUESTS_PER_10S": "10000",  # the fake is local; pacing has its own tests
    }
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    fake_hubspot.reset_requests()

    first = run_drumbeat("sync", env=env, cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"Full sync from hubspot: {DEALS:,} deals read, {DEALS:,} new or changed."
    first_requests = fake_hubspot.request_count()
    assert first_requests <= math.ceil(DEALS / 100) + 10
    print(f"\nfirst sync of {DEALS} deals: {first_requests} HubSpot requests")

    fake_hubspot.reset_requests()
    second = run_drumbeat("sync", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    # Only the deals inside the overlap window before the last high-water mark are read again.
    assert second.stdout.strip() == "Incremental sync from hubspot: 1 deal read, 0 new or changed."
    assert fake_hubspot.request_count() <= 2
    print(f"second sync, nothing changed: {fake_hubspot.request_count()} HubSpot requests")


def test_incremental_sync_brings_only_changes_and_new_stages(
    sessions: Any, fake_hubspot: FakeHubSpot
) -> None:
    seed_team(fake_hubspot)
    backdate(fake_hubspot, hours=3)
    ids = fake_hubspot.add_deals_bulk(500, deal_properties)
    crm = fast_adapter(fake_hubspot)
    now = datetime.now(UTC)
    assert sync_mirror(crm, sessions, now=now).deals_changed == 500

    fake_hubspot.clock = lambda: datetime.now(UTC)
    fake_hubspot.add_pipeline("renewals", "Renewals", [("renewal-due", "Renewal due", 0.5)])
    fake_hubspot.touch_deal(ids[7], dealname="Deal 7 (renamed)")
    fake_hubspot.touch_deal(ids[8], pipeline="renewals", dealstage="renewal-due")
    fake_hubspot.reset_requests()
    result = sync_mirror(crm, sessions, now=now + timedelta(minutes=10))
    assert not result.full
    assert result.deals_changed == 2
    assert result.lookups_refreshed  # an unknown stage made it fetch pipelines again
    with sessions() as session:
        assert session.get(MirrorDeal, ids[7]).name == "Deal 7 (renamed)"
        assert session.get(MirrorDeal, ids[8]).stage_id == "renewal-due"
        assert session.get(MirrorStage, ("renewals", "renewal-due")) is not None
        assert session.scalar(select(func.count()).select_from(MirrorOwner)) == 2


def test_a_full_sync_drops_deals_deleted_in_the_crm(sessions: Any, fake_hubspot: FakeHubSpot) -> None:
    seed_team(fake_hubspot)
    ids = fake_hubspot.add_deals_bulk(30, deal_properties)
    crm = fast_adapter(fake_hubspot)
    now = datetime.now(UTC)
    sync_mirror(crm, sessions, now=now)
    fake_hubspot.archive_deal(ids[0])
    result = sync_mirror(crm, sessions, now=now + timedelta(hours=1), full=True)
    assert result.deals_removed == 1
    assert _mirrored(sessions) == 29


def test_sync_rides_out_rate_limits_and_server_errors(sessions: Any, fake_hubspot: FakeHubSpot) -> None:
    seed_team(fake_hubspot)
    fake_hubspot.add_deals_bulk(1_000, deal_properties)
    fake_hubspot.fail_next(2, status=429, path_contains="/search")
    fake_hubspot.fail_next(1, status=429, retry_after="2", path_contains="/search")
    fake_hubspot.fail_next(1, status=502, path_contains="/search")
    result = sync_mirror(fast_adapter(fake_hubspot, max_attempts=6), sessions, now=datetime.now(UTC))
    assert result.deals_read == result.deals_changed == 1_000
    assert _mirrored(sessions) == 1_000


def test_sync_command_explains_a_rejected_token(
    sqlite_url: str, fake_hubspot: FakeHubSpot, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": sqlite_url,
        "HUBSPOT_ACCESS_TOKEN": "pat-wrong",
        "HUBSPOT_API_URL": fake_hubspot.url,
    }
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    result = run_drumbeat("sync", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("error: HubSpot rejected the access token (401)")
    assert "pat-wrong" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
