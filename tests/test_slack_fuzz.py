"""Hypothesis sends randomly malformed but signed slash commands, interactions and events into the
real app through HTTP: never a 5xx, never a traceback in the log, nothing written when refused."""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.conftest import RunningApp, stop_app
from tests.deal_scenario import SettableClock, seed, start_drumbeat
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.slack_signing import FORM_CONTENT_TYPE, JSON_CONTENT_TYPE
from tests.test_slack_edge import written

TRIED: dict[str, int] = {}

JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
DEAL_ACTIONS = ["deal.update", "deal.note", "deal.on_track", "deal.mark_lost", "deal.menu", "deal.pick"]
NUDGE_ACTIONS = ["nudge.on_track", "nudge.update", "nudge.snooze", "nudge.mark_lost", "nudge.more"]
ACTION_IDS = st.sampled_from([*DEAL_ACTIONS, *NUDGE_ACTIONS, "unknown"])
CALLBACKS = st.sampled_from(["deal.update_modal", "deal.note_modal", "nudge.snooze_modal", "other"])


def _mutate(draw: st.DrawFn, document: Any, depth: int = 0) -> Any:
    """The document with some of its values replaced by junk, or keys dropped."""
    if isinstance(document, dict):
        out = {}
        for key, value in document.items():
            roll = draw(st.integers(0, 9))
            if roll == 0:
                continue  # dropped
            out[key] = draw(JUNK) if roll == 1 else _mutate(draw, value, depth + 1)
        return out
    if isinstance(document, list):
        return [_mutate(draw, item, depth + 1) for item in document]
    return draw(JUNK) if draw(st.integers(0, 9)) == 0 else document


@st.composite
def interactions(draw: st.DrawFn) -> str:
    action = {
        "type": "button",
        "action_id": draw(ACTION_IDS),
        "block_id": draw(st.sampled_from(["pick:search", "pick:abc", "actions:1"])),
        "value": draw(st.sampled_from(["1", "7:1", "date:1", "on_track:1", "\x00", "9" * 70])),
        "selected_option": {"value": draw(st.sampled_from(["7:1", "date:1", "update:1", "x", "1"]))},
    }
    values = {
        "note": {"value": {"type": "plain_text_input", "value": draw(st.text(max_size=20))}},
        "until": {
            "value": {
                "type": "datepicker",
                "selected_date": draw(st.sampled_from(["9999-99-99", "2030-01-01", "x"])),
            }
        },
        "amount": {"value": {"type": "plain_text_input", "value": draw(st.text(max_size=10))}},
        "close": {
            "value": {
                "type": "datepicker",
                "selected_date": draw(st.sampled_from(["0001-01-01", "2030-02-30"])),
            }
        },
    }
    payload = {
        "type": draw(st.sampled_from(["block_actions", "view_submission", "view_closed", "shortcut"])),
        "user": {"id": draw(st.sampled_from(["U0ALICE", "U0STRANGER", "U" + "A" * 40, "u\x00"]))},
        "trigger_id": "1.2.abc",
        "response_url": "http://127.0.0.1:9/commands/x",
        "actions": [action],
        "message": {"ts": "1.2", "blocks": [{"block_id": "nudge-actions:1"}]},
        "container": {"channel_id": "D0ALICE"},
        "view": {
            "callback_id": draw(CALLBACKS),
            "private_metadata": draw(st.sampled_from(['{"deal_id": "1"}', '{"deal_id": 5}', "[]", "{"])),
            "state": {"values": values},
        },
    }
    mutated = _mutate(draw, payload)
    raw = json.dumps(mutated) if draw(st.integers(0, 19)) else draw(st.text(max_size=30))
    return urllib.parse.urlencode({"payload": raw})


@st.composite
def commands(draw: st.DrawFn) -> str:
    fields = {
        "command": "/deal",
        "user_id": draw(st.sampled_from(["U0ALICE", "U" + "B" * 40, "", "U0\x00"])),
        "text": draw(
            st.text(max_size=60) | st.sampled_from(["acme corp close=9999-12-31", 'acme note "\x00"'])
        ),
        "response_url": draw(st.sampled_from(["http://127.0.0.1:9/x", "not a url", ""])),
    }
    kept = {k: v for k, v in fields.items() if draw(st.integers(0, 9))}
    return urllib.parse.urlencode(kept)


@st.composite
def events(draw: st.DrawFn) -> str:
    event = {
        "type": draw(st.sampled_from(["app_home_opened", "message", "x"])),
        "user": "U0ALICE",
        "tab": "home",
    }
    envelope = {"type": "event_callback", "event_id": "Ev1", "team_id": "T0TEAM", "event": event}
    mutated = _mutate(draw, envelope)
    return json.dumps(mutated) if draw(st.integers(0, 19)) else draw(st.text(max_size=30))


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningApp, FakeSlack]]:
    from bot.db import create_db_engine, migrate

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'drumbeat.db'}"
    engine = create_db_engine(url)
    migrate(engine)
    engine.dispose()
    with FakeSlack(bot_token="xoxb-test-token") as slack, FakeHubSpot(token="pat-test-token") as hubspot:
        seed(hubspot, slack)
        app = start_drumbeat(url, slack, hubspot, clock=SettableClock(), worker=False)
        yield app, slack
        stop_app(app)


# CI replays one fixed set of inputs, so a submission's run is repeatable; elsewhere each run
# explores new ones (raise DRUMBEAT_FUZZ_EXAMPLES to look harder).
FUZZ = settings(
    max_examples=int(os.environ.get("DRUMBEAT_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=bool(os.environ.get("CI")),
)


@pytest.mark.parametrize(
    ("kind", "strategy", "content_type"),
    [
        ("interaction", interactions(), FORM_CONTENT_TYPE),
        ("command", commands(), FORM_CONTENT_TYPE),
        ("event", events(), JSON_CONTENT_TYPE),
    ],
)
def test_malformed_signed_requests_never_break_the_app(
    fuzz_app: tuple[RunningApp, FakeSlack],
    caplog: pytest.LogCaptureFixture,
    kind: str,
    strategy: st.SearchStrategy[str],
    content_type: str,
) -> None:
    app, _slack = fuzz_app

    failures: list[str] = []

    @FUZZ
    @given(strategy)
    def one(body: str) -> None:
        before = written(app)
        response = app.slack.post(body, content_type)
        TRIED[kind] = TRIED.get(kind, 0) + 1
        if response.status_code >= 500:
            failures.append(f"{response.status_code}: {body}")
        if response.status_code >= 400 and written(app) != before:
            failures.append(f"written though refused: {body}")

    with caplog.at_level(logging.INFO):
        one()
    time.sleep(1)  # listeners that run after the ack have finished logging
    traced = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    print(f"fuzz ({kind}): {TRIED[kind]} inputs, {len(failures)} bad answers, {len(traced)} tracebacks")
    for record in traced[:3]:
        print("  traceback:", record.getMessage())
    assert failures == [] and traced == []
