"""Issue 12: Slack faults while rituals deliver. A refused token is said once and nothing hammers Slack;
a person or channel Slack cannot reach is said in the firing or the DM's record, never retried forever."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.models import PendingDM
from rituals.config import parse_rituals_text
from tests.conftest import RunningApp, stop_app
from tests.deal_scenario import SettableClock, start_drumbeat
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack

TUESDAY_9 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # 09:00 in Paris
RITUALS = """
timezone: Europe/Paris
rituals:
  - id: stale-deals
    kind: stale_deals
    schedule: "0 9 * * mon-fri"
  - id: weekly-digest
    kind: pipeline_digest
    schedule: "0 8 * * mon"
    channel: "#sales-weekly"
"""
REPS = 3


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(TUESDAY_9)


@pytest.fixture
def app(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, clock: SettableClock
) -> Iterator[RunningApp]:
    fake_hubspot.add_default_pipeline()
    old = str(int((TUESDAY_9 - timedelta(days=30)).timestamp() * 1000))
    for i in range(REPS):
        owner = str(2000 + i)
        fake_hubspot.add_owner(owner, f"rep{i}@acme.example", "Rep", str(i))
        fake_slack.add_user(f"U{i:05d}", f"rep{i}@acme.example", f"Rep {i}", tz="Europe/Paris")
        fake_hubspot.add_deal(
            dealname=f"Deal {i}",
            hubspot_owner_id=owner,
            pipeline="default",
            dealstage="qualifiedtobuy",
            notes_last_updated=old,
            createdate=old,
        )
    running = start_drumbeat(
        database_url, fake_slack, fake_hubspot, clock=clock, rituals=parse_rituals_text(RITUALS)
    )
    yield running
    stop_app(running)


def deliver(app: RunningApp) -> int:
    return app.runtime.engine.deliver_due(app.runtime.send_dm)


def dm_rows(app: RunningApp) -> list[PendingDM]:
    with app.services.sessions() as session:
        return list(session.scalars(select(PendingDM).order_by(PendingDM.slack_user)))


def test_a_revoked_token_is_said_once_and_holds_every_dm_without_hammering_slack(
    app: RunningApp, fake_slack: FakeSlack, clock: SettableClock, caplog: pytest.LogCaptureFixture
) -> None:
    app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
    fake_slack.revoke_token(error="token_revoked")
    with caplog.at_level(logging.INFO, logger="rituals.engine"):
        assert deliver(app) == 0
        clock.advance(minutes=6)  # past the retry delay: a second run meets the same refusal
        assert deliver(app) == 0
    # One attempt per run, not one per person; one error in the log for the whole outage.
    assert len(fake_slack.calls_to("chat.postMessage")) == 2
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        "Slack refused the bot token (token_revoked): DMs are held, not dropped, until SLACK_BOT_TOKEN "
        "is fixed; /healthz reports it"
    ]
    assert not [r for r in caplog.records if "not delivered" in r.getMessage()]
    rows = dm_rows(app)
    assert len(rows) == REPS
    assert {r.status for r in rows} == {"pending"}  # held, not dropped
    assert all(r.send_after > TUESDAY_9 and "token_revoked" in (r.last_error or "") for r in rows)

    fake_slack.restore_token()  # the admin fixes SLACK_BOT_TOKEN
    clock.advance(minutes=6)
    assert deliver(app) == REPS
    assert {r.status for r in dm_rows(app)} == {"sent"}
    # /healthz says it meanwhile: tests/test_slack_endpoint.py (503 with the reason).


@pytest.mark.parametrize("error", ["user_not_found", "account_inactive"])
def test_a_dm_slack_cannot_deliver_to_that_person_is_recorded_with_why_and_not_retried(
    app: RunningApp, fake_slack: FakeSlack, clock: SettableClock, error: str
) -> None:
    app.runtime.engine.run("stale-deals", scheduled_for=TUESDAY_9)
    fake_slack.fail("chat.postMessage", error)  # the first person's DM only
    assert deliver(app) == REPS - 1
    failed = [r for r in dm_rows(app) if r.status == "failed"]
    assert len(failed) == 1 and error in (failed[0].last_error or "")
    clock.advance(days=1)
    calls = len(fake_slack.calls_to("chat.postMessage"))
    deliver(app)
    assert len(fake_slack.calls_to("chat.postMessage")) == calls  # never tried again


@pytest.mark.parametrize(
    ("error", "said"),
    [
        ("channel_not_found", "#sales-weekly cannot be posted to (channel_not_found)"),
        ("is_archived", "#sales-weekly cannot be posted to (is_archived)"),
        ("invalid_auth", "Slack refused Drumbeat's bot token (invalid_auth): check SLACK_BOT_TOKEN"),
    ],
)
def test_a_channel_post_slack_refuses_says_why_in_the_firing_and_is_not_retried(
    app: RunningApp, fake_slack: FakeSlack, error: str, said: str
) -> None:
    fake_slack.add_channel("C0WEEKLY", "sales-weekly")
    fake_slack.fail("chat.postMessage", error, times=10)
    report = app.runtime.engine.run("weekly-digest", scheduled_for=TUESDAY_9 - timedelta(days=1))
    assert report.post_problem is not None and said in report.post_problem
    assert said in report.summary()
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
