"""The HTTP surface, driven with real signed requests into a running app (waitress + Bolt)."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import func, select

from core.models import SeenSlackRequest
from tests.conftest import RunningApp, make_settings, start_app, stop_app
from tests.fakes.slack import FakeSlack


def _seen_count(app: RunningApp) -> int:
    with app.services.sessions() as session:
        return session.scalar(select(func.count()).select_from(SeenSlackRequest)) or 0


def test_signed_url_verification_is_answered(running_app: RunningApp) -> None:
    response = running_app.slack.url_verification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


@pytest.mark.parametrize(
    "forgery",
    [
        {"signature": "v0=" + "0" * 64},
        {"timestamp_offset": -6 * 60},  # signed correctly, but 6 minutes old
        {"timestamp_offset": +6 * 60},
        {"sign": False},
    ],
    ids=["wrong-signature", "stale-timestamp", "future-timestamp", "unsigned"],
)
def test_forged_or_stale_requests_get_401_and_change_nothing(
    running_app: RunningApp, fake_slack: FakeSlack, forgery: dict[str, object]
) -> None:
    body = "token=x&team_id=T0TEAM&user_id=U0ALICE&command=%2Fdeal&text=acme+stage%3Dwon"
    forgery = dict(forgery)
    if "timestamp_offset" in forgery:  # relative to when the request is sent, not when tests were collected
        forgery["timestamp"] = int(time.time()) + int(forgery.pop("timestamp_offset"))  # type: ignore[call-overload]
    response = running_app.slack.post(body, "application/x-www-form-urlencoded", **forgery)  # type: ignore[arg-type]
    assert response.status_code == 401
    assert _seen_count(running_app) == 0
    assert fake_slack.calls == []


def test_a_replayed_request_is_refused(running_app: RunningApp) -> None:
    first = running_app.slack.url_verification("challenge-1")
    assert first.status_code == 200
    again = running_app.slack.replay()
    assert again.status_code == 401
    assert running_app.slack.url_verification("challenge-2").status_code == 200  # only replays are refused


@pytest.mark.postgres
def test_a_request_replayed_to_another_replica_is_refused(
    migrated_postgres_url: str, fake_slack: FakeSlack
) -> None:
    first, second = (start_app(make_settings(migrated_postgres_url, fake_slack)) for _ in range(2))
    try:
        assert first.slack.url_verification("hello").status_code == 200
        assert second.slack.replay(first.slack.last_sent).status_code == 401
    finally:
        stop_app(first)
        stop_app(second)


def test_healthz_reports_ok_when_database_slack_and_crm_answer(running_app: RunningApp) -> None:
    response = httpx.get(f"{running_app.url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "slack": "ok", "crm": "ok"}}


def test_healthz_is_503_with_the_reason_when_slack_refuses_the_token(
    running_app: RunningApp, fake_slack: FakeSlack
) -> None:
    fake_slack.revoke_token()
    response = httpx.get(f"{running_app.url}/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["slack"] == "Slack refused the bot token (invalid_auth)"
    assert body["checks"]["database"] == "ok"
    assert "xoxb" not in response.text


def test_healthz_is_503_when_the_database_is_unreachable(fake_slack: FakeSlack) -> None:
    app = start_app(make_settings("postgresql://postgres@127.0.0.1:1/nowhere", fake_slack))
    try:
        response = httpx.get(f"{app.url}/healthz", timeout=15)
    finally:
        stop_app(app)
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("database unreachable")


def test_metrics_count_refused_and_accepted_requests(running_app: RunningApp) -> None:
    running_app.slack.url_verification("ok")
    running_app.slack.post("x=1", "application/x-www-form-urlencoded", signature="v0=bad")
    text = httpx.get(f"{running_app.url}/metrics").text
    assert 'drumbeat_slack_requests_total{outcome="accepted"} 1.0' in text
    assert 'drumbeat_slack_requests_total{outcome="bad_signature"} 1.0' in text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/", 404), ("GET", "/slack/events", 405), ("POST", "/healthz", 405), ("GET", "/admin", 404)],
)
def test_nothing_else_answers(running_app: RunningApp, method: str, path: str, status: int) -> None:
    assert httpx.request(method, f"{running_app.url}{path}").status_code == status
