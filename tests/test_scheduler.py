"""The APScheduler wiring: one job per ritual with a stable id, replaced on reload, never duplicated."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rituals.config import parse_rituals_text
from rituals.scheduler import RitualScheduler, job_id
from tests.conftest import RunningApp, stop_app
from tests.deal_scenario import SettableClock, seed, start_drumbeat
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.test_rituals_engine import RITUALS, TUESDAY_9


@pytest.fixture
def app(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> Iterator[RunningApp]:
    seed(fake_hubspot, fake_slack, now=TUESDAY_9)
    running = start_drumbeat(
        database_url,
        fake_slack,
        fake_hubspot,
        clock=SettableClock(TUESDAY_9),
        rituals=parse_rituals_text(RITUALS),
    )
    yield running
    stop_app(running)


def test_each_ritual_gets_one_job_with_a_stable_id_and_its_own_zone(app: RunningApp) -> None:
    scheduler = app.runtime.scheduler(app.services)
    scheduler.schedule(app.services.rituals)
    scheduler.schedule(app.services.rituals)  # again, as a reload would: replaced, not doubled
    jobs = {job.id: job for job in scheduler._scheduler.get_jobs()}
    assert set(jobs) == {job_id("stale-deals"), job_id("deal-hygiene"), job_id("night-check")}
    assert str(jobs["ritual:stale-deals"].trigger.timezone) == "Europe/Paris"
    assert jobs["ritual:stale-deals"].args == ("stale-deals",)


def test_a_reloaded_file_replaces_jobs_and_drops_removed_rituals(app: RunningApp) -> None:
    scheduler = app.runtime.scheduler(app.services)
    scheduler.schedule(app.services.rituals)
    smaller = parse_rituals_text(
        RITUALS.split("  - id: deal-hygiene")[0].replace(
            'schedule: "0 9 * * mon-fri"', 'schedule: "0 8 * * *"'
        )
    )
    app.runtime.apply_config(app.services, smaller)
    scheduler.schedule(smaller)
    jobs = {job.id: job for job in scheduler._scheduler.get_jobs()}
    assert set(jobs) == {"ritual:stale-deals"}
    assert "hour='8'" in str(jobs["ritual:stale-deals"].trigger)
    assert app.services.rituals is smaller


def test_a_fired_job_runs_the_ritual_and_delivers_its_dms(app: RunningApp, fake_slack: FakeSlack) -> None:
    scheduler = RitualScheduler(app.runtime.engine, app.runtime.send_dm, lambda: app.services.rituals)
    scheduler.fire("stale-deals")  # what APScheduler calls at 09:00
    scheduler.fire("stale-deals")  # a second replica, or a misfire re-run: same firing
    assert len(fake_slack.messages_in("U0ALICE")) == 1


def test_serve_keeps_the_mirror_fresh_between_rituals(app: RunningApp, fake_hubspot: FakeHubSpot) -> None:
    scheduler = app.runtime.scheduler(app.services)
    scheduler.start()
    try:
        jobs = {job.id: job for job in scheduler._scheduler.get_jobs()}
        assert "interval[0:01:00]" in str(jobs["mirror-sync"].trigger)  # alerts within a minute
        assert "hour='3'" in str(jobs["mirror-full-sync"].trigger)
    finally:
        scheduler.shutdown()
    new_deal = fake_hubspot.add_deal(dealname="Brand new", pipeline="default", dealstage="qualifiedtobuy")
    scheduler.refresh_mirror()  # what the minute's job runs
    assert app.runtime.deals.desk.get(new_deal) is not None
    fake_hubspot.archive_deal(new_deal)
    scheduler.refresh_mirror(full=True)  # the nightly job: deletions leave the mirror
    assert app.runtime.deals.desk.get(new_deal) is None


def test_the_manager_rituals_are_scheduled_in_their_own_zones(app: RunningApp) -> None:
    with_reports = parse_rituals_text(
        RITUALS
        + """  - id: weekly-digest
    kind: pipeline_digest
    schedule: "0 8 * * mon"
    channel: "#sales-weekly"
  - id: one-on-one
    kind: one_on_one_prep
    schedule: "0 8 * * tue"
    timezone: America/New_York
  - id: adoption
    kind: adoption_report
    schedule: "0 16 * * fri"
    channel: "#sales-managers"
    enabled: false
"""
    )
    scheduler = app.runtime.scheduler(app.services)
    scheduler.schedule(with_reports)
    jobs = {job.id: job for job in scheduler._scheduler.get_jobs()}
    assert {job_id("weekly-digest"), job_id("one-on-one")} <= set(jobs)
    assert job_id("adoption") not in jobs  # disabled
    assert str(jobs[job_id("one-on-one")].trigger.timezone) == "America/New_York"
    assert jobs[job_id("weekly-digest")].args == ("weekly-digest",)


def test_each_sync_is_followed_by_a_look_at_the_deal_alerts_but_a_failed_one_is_not(
    app: RunningApp, fake_hubspot: FakeHubSpot
) -> None:
    looks: list[int] = []
    scheduler = RitualScheduler(
        app.runtime.engine,
        app.runtime.send_dm,
        lambda: app.services.rituals,
        after_sync=lambda: looks.append(1),
    )
    scheduler.refresh_mirror()
    assert looks == [1]
    fake_hubspot.fail_next(5, status=503)
    scheduler.refresh_mirror()  # HubSpot down: the changes wait for the next sync, and so do alerts
    assert looks == [1]
