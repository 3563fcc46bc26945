"""The edge of `/slack/events` under hostile or broken input: replays after a restart, control
characters, malformed but signed payloads, and a database that cannot be reached. Real signed
requests into the real app (waitress + Bolt), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import func, select

from core.models import AuditEntry, OutboxEntry, PendingChoice, ReceivedCommand, Snooze
from tests.conftest import RunningApp, _libpq, make_settings, start_app, stop_app
from tests.deal_scenario import SettableClock, Team, seed, start_drumbeat, wait_until
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.slack_signing import FORM_CONTENT_TYPE, JSON_CONTENT_TYPE


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def team(fake_hubspot: FakeHubSpot, fake_slack: FakeSlack) -> Team:
    return seed(fake_hubspot, fake_slack)


@pytest.fixture
def app(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> Iterator[RunningApp]:
    running = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=SettableClock())
    fake_hubspot.reset_requests()
    yield running
    stop_app(running)


def written(app: RunningApp) -> int:
    """Rows a request could have written for a person: commands, changes, audit, choices, snoozes."""
    with app.services.sessions() as session:
        return sum(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (ReceivedCommand, OutboxEntry, AuditEntry, PendingChoice, Snooze)
        )


def notes_about(hubspot: FakeHubSpot, text: str) -> int:
    return sum(text in n["properties"]["hs_note_body"] for n in hubspot.notes.values())


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


def flat(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


# --- 1. replay protection survives a restart ---


def test_a_note_replayed_after_a_restart_is_refused(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    first = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=SettableClock())
    try:
        url = fake_slack.response_url()
        ack = first.slack.slash_command('acme corp note "replay canary"', user_id="U0ALICE", response_url=url)
        assert ack.status_code == 200
        wait_until(lambda: notes_about(fake_hubspot, "replay canary") == 1, what="the note")
        sent = first.slack.last_sent
    finally:
        stop_app(first)
    restarted = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=SettableClock())
    try:
        # the same bytes and headers, to the new instance's port
        assert restarted.slack.replay(dataclasses.replace(sent, url=restarted.slack.url)).status_code == 401
        time.sleep(0.5)
        assert notes_about(fake_hubspot, "replay canary") == 1
    finally:
        stop_app(restarted)


# --- 2. input hygiene ---


@pytest.mark.parametrize(
    "text", ['acme corp note "call\x00back"', "acme corp\x00 amount=5k", "acme\x1b stage=won"]
)
def test_control_characters_in_deal_are_refused_clearly(
    app: RunningApp,
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    caplog: pytest.LogCaptureFixture,
    text: str,
) -> None:
    response = app.slack.slash_command(text, user_id="U0ALICE", response_url=fake_slack.response_url())
    assert response.status_code == 200
    assert "control character" in response.text and "Nothing was changed" in response.text
    assert written(app) == 0 and fake_hubspot.request_count(method="POST", path_contains="/notes") == 0
    assert tracebacks(caplog) == []


def _note_modal(app: RunningApp, deal_id: str, note: str) -> httpx.Response:
    view = {
        "id": "V1",
        "callback_id": "deal.note_modal",
        "private_metadata": json.dumps({"deal_id": deal_id, "response_url": ""}),
        "state": {"values": {"note": {"value": {"type": "plain_text_input", "value": note}}}},
    }
    return app.slack.view_submission(user_id="U0ALICE", view=view)


def test_a_nul_in_the_note_modal_shows_on_the_field(
    app: RunningApp, team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    response = _note_modal(app, team.acme, "call\x00back")
    assert response.status_code == 200
    assert "control character" in response.json()["errors"]["note"]
    assert written(app) == 0 and tracebacks(caplog) == []


def test_a_nul_in_the_update_modal_shows_on_its_field(
    app: RunningApp, team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    view = {
        "id": "V1",
        "callback_id": "deal.update_modal",
        "private_metadata": json.dumps({"deal_id": team.acme, "response_url": ""}),
        "state": {"values": {"next": {"value": {"type": "plain_text_input", "value": "Send\x00MSA"}}}},
    }
    response = app.slack.view_submission(user_id="U0ALICE", view=view)
    assert response.status_code == 200
    assert "control character" in response.json()["errors"]["next"]
    assert written(app) == 0 and tracebacks(caplog) == []


@pytest.mark.parametrize("value", [42, None, "", "x" * 65, "12\x003"])
def test_a_button_without_a_readable_deal_id_gets_a_clear_answer(
    app: RunningApp, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture, value: object
) -> None:
    url = fake_slack.response_url()
    action: dict[str, Any] = {"type": "button", "action_id": "deal.on_track", "block_id": "actions:x"}
    if value is not None:
        action["value"] = value
    assert app.slack.block_actions(user_id="U0ALICE", actions=[action], response_url=url).status_code == 200
    answer = wait_until(lambda: fake_slack.responses(url), what="the answer")[0]
    assert "doesn't name a deal" in flat(answer)
    assert written(app) == 0 and tracebacks(caplog) == []


def test_a_user_id_longer_than_the_columns_is_refused(
    app: RunningApp, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    long_id = "U" + "A" * 40
    response = app.slack.slash_command("acme corp amount=5k", user_id=long_id)
    assert response.status_code == 400
    button = {"type": "button", "action_id": "deal.on_track", "value": "1"}
    assert app.slack.block_actions(user_id=long_id, actions=[button]).status_code == 400
    assert written(app) == 0 and tracebacks(caplog) == []


def test_a_close_date_in_the_past_needs_a_bang(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    url = fake_slack.response_url()
    app.slack.slash_command("acme corp close=2020-01-15", user_id="U0ALICE", response_url=url)
    refusal = wait_until(lambda: [r for r in fake_slack.responses(url) if "in the past" in flat(r)])
    assert "close=2020-01-15!" in flat(refusal[0])
    url = fake_slack.response_url()
    app.slack.slash_command("acme corp close=0026-01-15", user_id="U0ALICE", response_url=url)
    wait_until(lambda: [r for r in fake_slack.responses(url) if "check the year" in flat(r)])
    app.slack.slash_command(
        "acme corp close=2020-01-15!", user_id="U0ALICE", response_url=fake_slack.response_url()
    )
    wait_until(
        lambda: fake_hubspot.deals[team.acme]["properties"]["closedate"].startswith("2020-01-15"),
        what="saved",
    )


# --- 3. malformed but signed payloads ---


def _interaction(**fields: Any) -> dict[str, Any]:
    return {"type": "block_actions", "user": {"id": "U0ALICE"}, "trigger_id": "1.2.abc", **fields}


MALFORMED: dict[str, tuple[str, str]] = {
    "payload-not-json": ("payload=%7Bnot+json", FORM_CONTENT_TYPE),
    "payload-a-list": ("payload=%5B1%2C2%5D", FORM_CONTENT_TYPE),
    "payload-a-string": ("payload=%22hello%22", FORM_CONTENT_TYPE),
    "actions-empty": ("payload=" + json.dumps(_interaction(actions=[])), FORM_CONTENT_TYPE),
    "actions-not-a-list": ("payload=" + json.dumps(_interaction(actions={"a": 1})), FORM_CONTENT_TYPE),
    "no-user": (
        "payload=" + json.dumps({"type": "block_actions", "actions": [{"action_id": "deal.on_track"}]}),
        FORM_CONTENT_TYPE,
    ),
    "view-without-state": (
        "payload="
        + json.dumps(
            {"type": "view_submission", "user": {"id": "U0ALICE"}, "view": {"callback_id": "deal.note_modal"}}
        ),
        FORM_CONTENT_TYPE,
    ),
    "event-not-json": ('{"type": "event_callback", ', JSON_CONTENT_TYPE),
    "event-a-list": ("[]", JSON_CONTENT_TYPE),
    "event-without-event": ('{"type": "event_callback"}', JSON_CONTENT_TYPE),
    # Found by the fuzzer: Bolt reads `event` whatever the envelope's type.
    "event-a-list-in-an-odd-envelope": ('{"type": "odd", "event": [null, {}]}', JSON_CONTENT_TYPE),
    "command-without-user": ("command=%2Fdeal&text=acme", FORM_CONTENT_TYPE),
    "response-url-not-a-url": (
        "command=%2Fdeal&text=acme&user_id=U0ALICE&response_url=not+a+url",
        FORM_CONTENT_TYPE,
    ),
    "response-url-broken-ipv6": (
        "command=%2Fdeal&text=acme&user_id=U0ALICE&response_url=http%3A%2F%2F%5B%3A%3A1%2Fx",
        FORM_CONTENT_TYPE,
    ),
    "empty-form": ("", FORM_CONTENT_TYPE),
}


@pytest.mark.parametrize("case", list(MALFORMED), ids=list(MALFORMED))
def test_malformed_signed_payloads_get_400_and_one_log_line(
    app: RunningApp, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    body, content_type = MALFORMED[case]
    caplog.set_level(logging.INFO)
    response = app.slack.post(body, content_type)
    assert response.status_code == 400
    refusals = [r for r in caplog.records if "malformed Slack request" in r.getMessage()]
    assert len(refusals) == 1
    assert tracebacks(caplog) == []
    assert written(app) == 0


def test_a_snooze_date_that_is_not_a_date_shows_on_the_field(
    app: RunningApp, team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    view = {
        "id": "V1",
        "callback_id": "nudge.snooze_modal",
        "private_metadata": json.dumps({"deal_id": team.acme}),
        "state": {"values": {"until": {"value": {"type": "datepicker", "selected_date": "9999-99-99"}}}},
    }
    response = app.slack.view_submission(user_id="U0ALICE", view=view)
    assert response.status_code == 200
    assert response.json()["errors"] == {"until": "Pick a date on the calendar."}
    assert written(app) == 0 and tracebacks(caplog) == []


@pytest.mark.parametrize(
    "option", [None, {"value": "abc:12"}, {"value": "7"}, {"value": "99999999999999999999:1"}, {"x": 1}]
)
def test_a_snooze_menu_with_a_bad_option_gets_a_clear_answer(
    app: RunningApp, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture, option: object
) -> None:
    url = fake_slack.response_url()
    action: dict[str, Any] = {"type": "static_select", "action_id": "nudge.snooze"}
    if option is not None:
        action["selected_option"] = option
    response = app.slack.block_actions(user_id="U0ALICE", actions=[action], response_url=url)
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        wait_until(lambda: fake_slack.responses(url), what="the answer")
    assert written(app) == 0 and tracebacks(caplog) == []


# --- 4. the database down at the HTTP edge ---


@pytest.mark.postgres
def test_while_the_database_is_down_slack_is_told_fast_and_the_log_says_it_once(
    migrated_postgres_url: str,
    postgres_admin_url: str,
    fake_slack: FakeSlack,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = start_app(make_settings(migrated_postgres_url, fake_slack), worker=False)
    try:
        assert app.slack.url_verification("up").status_code == 200
        name = migrated_postgres_url.rsplit("/", 1)[1]
        with psycopg.connect(_libpq(postgres_admin_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        caplog.clear()
        started = time.monotonic()
        answers = [app.slack.slash_command("acme corp amount=5k", user_id="U0ALICE") for _ in range(20)]
        button = {"type": "button", "action_id": "deal.on_track", "value": "1"}
        clicks = [app.slack.block_actions(user_id="U0ALICE", actions=[button]) for _ in range(5)]
        elapsed = time.monotonic() - started
        healthz = httpx.get(f"{app.url}/healthz", timeout=15)
    finally:
        stop_app(app)
    assert all(a.status_code == 200 for a in answers)
    assert all("can't reach its database" in a.json()["text"] for a in answers)
    assert all(a.json()["response_type"] == "ephemeral" for a in answers)
    assert all(c.status_code == 503 for c in clicks)
    assert elapsed < 5
    assert healthz.status_code == 503
    said = [r for r in caplog.records if "database unreachable" in r.getMessage() and r.name == "bot.web"]
    assert len(said) == 1  # one backoff step (1 s) covers the burst
    assert tracebacks(caplog) == []
