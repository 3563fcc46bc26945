"""`/deal`, its buttons, the modal and App Home, driven with signed requests into the real app."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from core.i18n import LANGUAGES, translator
from handlers.replies import WORKING
from tests.conftest import RunningApp, stop_app
from tests.deal_scenario import (
    SettableClock,
    Team,
    audit_count,
    outbox_rows,
    seed,
    start_drumbeat,
    wait_until,
)
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def team(fake_hubspot: FakeHubSpot, fake_slack: FakeSlack) -> Team:
    return seed(fake_hubspot, fake_slack)


@pytest.fixture
def app(
    engine: Any,
    database_url: str,
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    team: Team,
    clock: SettableClock,
) -> Iterator[RunningApp]:
    running = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=clock)
    fake_hubspot.reset_requests()
    yield running
    stop_app(running)


def slash(app: RunningApp, slack: FakeSlack, text: str, user: str = "U0ALICE") -> tuple[dict[str, Any], str]:
    """Send `/deal TEXT`; returns Drumbeat's answer and the response_url Slack would have given.

    Help, lists and searches are answered in the ack. An update is stored and acked with "Working on
    it" (in the person's language), and its answer (accepted, picker or problem) replaces that
    message through response_url.
    """
    url = slack.response_url()
    response = app.slack.slash_command(text, user_id=user, response_url=url)
    assert response.status_code == 200
    body: dict[str, Any] = response.json() if response.content else {}
    if any(translator(language)._(WORKING) in flat(body) for language in LANGUAGES):
        body = wait_until(lambda: slack.responses(url), what="the answer")[0]
    return body, url


def flat(payload: dict[str, Any]) -> str:
    """Every text in a message or view, joined, for assertions about what a person reads."""
    return json.dumps(payload.get("blocks", payload), ensure_ascii=False)


def hubspot_writes(hubspot: FakeHubSpot) -> int:
    return (
        hubspot.request_count(method="PATCH")
        + hubspot.request_count(path_contains="/deals/batch/update")
        + hubspot.request_count(method="POST", path_contains="/notes")
    )


# --- reading ---


def test_deal_alone_lists_my_open_deals_most_urgent_first(app: RunningApp, fake_slack: FakeSlack) -> None:
    body, _ = slash(app, fake_slack, "")
    assert body["response_type"] == "ephemeral"
    text = flat(body)
    assert "Your open deals (3)" in text
    assert "Globex" not in text  # closed
    assert "Acme Logistics" not in text  # Bruno's
    order = [text.index(name) for name in ("Umbrella", "Initech", "Acme Corp")]
    assert order == sorted(order)  # past close date, then longest untouched, then the rest
    assert "close date" in text and "has passed" in text


def test_a_search_with_one_match_shows_the_card(app: RunningApp, fake_slack: FakeSlack, team: Team) -> None:
    body, _ = slash(app, fake_slack, "umbrella")
    text = flat(body)
    for expected in (
        "Umbrella",
        "Contract Sent",
        "€7,000",
        "Alice Martin",
        "Update…",
        "Still on track",
        "Note…",
    ):
        assert expected in text
    assert f"0-3/{team.overdue}" in text  # links to the deal in HubSpot


def test_a_search_with_several_matches_shows_a_picker(app: RunningApp, fake_slack: FakeSlack) -> None:
    body, _ = slash(app, fake_slack, "acme")
    select = body["blocks"][0]["accessory"]
    assert select["type"] == "static_select"
    assert {o["text"]["text"] for o in select["options"]} == {
        "Acme Corp (Presentation Scheduled)",
        "Acme Logistics (Qualified To Buy)",
    }


def test_help_explains_the_grammar(app: RunningApp, fake_slack: FakeSlack) -> None:
    text = flat(slash(app, fake_slack, "help")[0])
    assert "stage=" in text and "amount=" in text and "note" in text


# --- updating ---


def test_a_one_line_update_reaches_hubspot_and_confirms_before_and_after(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    body, url = slash(app, fake_slack, 'acme corp stage=contract amount=12k close=2026-12-20 next="Send MSA"')
    assert "Saving to HubSpot" in flat(body)
    confirmation = wait_until(
        lambda: [r for r in fake_slack.responses(url) if "Saved" in flat(r)], what="confirmation"
    )[-1]
    text = flat(confirmation)
    assert "✅ Saved in HubSpot" in text
    assert "Presentation Scheduled → *Contract Sent*" in text
    assert "€10,000 → *€12,000*" in text
    assert "20 Dec 2026" in text
    assert confirmation["replace_original"] is True
    props = fake_hubspot.deals[team.acme]["properties"]
    assert props["dealstage"] == "contractsent"
    assert props["amount"] == "12000"
    assert props["closedate"].startswith("2026-12-20")
    assert props["hs_next_step"] == "Send MSA"
    assert audit_count(app) == 4
    assert [e.status for e in outbox_rows(app)] == ["done"]


def test_a_note_is_logged_once(app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot) -> None:
    _, url = slash(app, fake_slack, 'acme corp note "Met the CFO, budget approved"')
    wait_until(lambda: any("Saved" in flat(r) for r in fake_slack.responses(url)), what="confirmation")
    notes = [n for n in fake_hubspot.notes.values() if "Met the CFO" in n["properties"]["hs_note_body"]]
    assert len(notes) == 1


def test_an_update_matching_several_deals_waits_for_a_pick(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    body, _ = slash(app, fake_slack, "acme amount=15k")
    assert "Nothing is written until you choose" in flat(body)
    assert outbox_rows(app) == []
    block = body["blocks"][0]
    url = fake_slack.response_url()
    response = app.slack.block_actions(
        user_id="U0ALICE",
        actions=[
            {
                "type": "static_select",
                "action_id": "deal.pick",
                "block_id": block["block_id"],
                "selected_option": {"text": {"type": "plain_text", "text": "Acme Corp"}, "value": team.acme},
            }
        ],
        response_url=url,
    )
    assert response.status_code == 200
    wait_until(lambda: any("Saved" in flat(r) for r in fake_slack.responses(url)), what="saved")
    assert fake_hubspot.deals[team.acme]["properties"]["amount"] == "15000"


@pytest.mark.parametrize(
    ("text", "user", "expected"),
    [
        ("nothing-like-this stage=won", "U0ALICE", "No deal matches *nothing-like-this*"),
        ("acme corp stage=banana", "U0ALICE", "banana"),
        ("acme corp stage=c", "U0ALICE", "Contract Sent"),
        ("acme corp amount=lots", "U0ALICE", "lots"),
        ("acme corp close=31/02", "U0ALICE", "31/02"),
        ('acme corp next="Send MSA', "U0ALICE", "quote"),
        ('acme corp note ""', "U0ALICE", "note"),
        ("acme corp amount=5k", "U0BRUNO", "this one is Alice Martin's"),
        ("globex amount=5k", "U0ALICE", "This deal is closed (Closed Won)"),
        ("acme corp amount=5k", "U0STRANGER", "couldn't match your Slack account"),
    ],
    ids=[
        "unknown-deal",
        "unknown-stage",
        "ambiguous-stage",
        "bad-amount",
        "bad-date",
        "unbalanced-quotes",
        "empty-note",
        "not-mine",
        "closed-deal",
        "not-linked",
    ],
)
def test_bad_input_gets_a_clear_answer_and_writes_nothing(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, text: str, user: str, expected: str
) -> None:
    body, _ = slash(app, fake_slack, text, user=user)
    assert expected.lower() in flat(body).lower()
    assert "Saving" not in flat(body)
    assert outbox_rows(app) == []
    assert audit_count(app) == 0
    time.sleep(0.2)
    assert hubspot_writes(fake_hubspot) == 0


def test_a_manager_may_reopen_a_closed_deal(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    _, url = slash(app, fake_slack, "globex stage=contract", user="U0MAXIME")
    wait_until(lambda: any("Saved" in flat(r) for r in fake_slack.responses(url)), what="saved")
    assert fake_hubspot.deals[team.globex]["properties"]["dealstage"] == "contractsent"


def test_an_admin_may_update_any_deal(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    _, url = slash(app, fake_slack, "acme logistics amount=6k", user="U0ADMIN")
    wait_until(lambda: any("Saved" in flat(r) for r in fake_slack.responses(url)), what="saved")
    assert fake_hubspot.deals[team.acme_logistics]["properties"]["amount"] == "6000"


def test_a_value_hubspot_refuses_is_explained(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    # `champion` is an alias to a property this portal does not have: HubSpot answers 400.
    _, url = slash(app, fake_slack, "acme corp champion=Dana")
    rejection = wait_until(lambda: [r for r in fake_slack.responses(url) if "didn't take" in flat(r)])
    assert "Nothing was changed" in flat(rejection[0])
    assert [e.status for e in outbox_rows(app)] == ["rejected"]


# --- buttons, modal, home ---


def _button(app: RunningApp, action_id: str, value: str, url: str, user: str = "U0ALICE") -> Any:
    return app.slack.block_actions(
        user_id=user,
        actions=[{"type": "button", "action_id": action_id, "block_id": f"actions:{value}", "value": value}],
        response_url=url,
    )


def test_still_on_track_logs_a_review_note(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    url = fake_slack.response_url()
    assert _button(app, "deal.on_track", team.initech, url).status_code == 200
    wait_until(lambda: any("Saved" in flat(r) for r in fake_slack.responses(url)), what="saved")
    notes = [n for n in fake_hubspot.notes.values() if "still on track" in n["properties"]["hs_note_body"]]
    assert len(notes) == 1
    assert fake_hubspot.deals[team.initech]["properties"]["notes_last_updated"]


def test_mark_lost_moves_the_deal_to_closed_lost(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    url = fake_slack.response_url()
    _button(app, "deal.mark_lost", team.initech, url)
    wait_until(lambda: any("Saved" in flat(r) for r in fake_slack.responses(url)), what="saved")
    assert fake_hubspot.deals[team.initech]["properties"]["dealstage"] == "closedlost"


def test_the_update_modal_opens_and_shows_errors_inline(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    url = fake_slack.response_url()
    _button(app, "deal.update", team.acme, url)
    opened = wait_until(lambda: fake_slack.calls_to("views.open"), what="views.open")
    view = opened[0].decoded("view")
    assert view["callback_id"] == "deal.update_modal"
    state = {
        "stage": {"value": {"type": "static_select", "selected_option": {"value": "presentationscheduled"}}},
        "amount": {"value": {"type": "plain_text_input", "value": "lots"}},
        "close": {"value": {"type": "datepicker", "selected_date": "2026-12-31"}},
        "next": {"value": {"type": "plain_text_input", "value": None}},
    }
    submitted = {**view, "state": {"values": state}, "id": "V1"}
    response = app.slack.view_submission(user_id="U0ALICE", view=submitted)
    assert response.json()["response_action"] == "errors"
    assert "amount" in response.json()["errors"]
    assert outbox_rows(app) == []

    state["amount"]["value"]["value"] = "11,500"
    response = app.slack.view_submission(user_id="U0ALICE", view={**submitted, "state": {"values": state}})
    assert response.status_code == 200
    assert not response.content or "errors" not in response.json()
    wait_until(lambda: fake_hubspot.deals[team.acme]["properties"]["amount"] == "11500", what="amount saved")
    assert fake_hubspot.deals[team.acme]["properties"]["closedate"].startswith("2026-12-31")


def test_app_home_shows_my_pipeline_and_what_needs_a_look(app: RunningApp, fake_slack: FakeSlack) -> None:
    app.slack.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home", "channel": "D0ALICE"})
    published = wait_until(lambda: fake_slack.calls_to("views.publish"), what="views.publish")
    view = published[-1].decoded("view")
    text = flat(view)
    assert "Your pipeline" in text
    assert "Contract Sent" in text and "€7,000" in text
    assert "Needs a look" in text
    assert "no amount" in text  # Initech
    assert "close date has passed" in text  # Umbrella


def test_app_home_tells_an_unlinked_person_how_to_get_linked(app: RunningApp, fake_slack: FakeSlack) -> None:
    app.slack.event({"type": "app_home_opened", "user": "U0STRANGER", "tab": "home", "channel": "D0X"})
    published = wait_until(lambda: fake_slack.calls_to("views.publish"), what="views.publish")
    assert "people:" in flat(published[-1].decoded("view"))


def test_a_slack_outage_while_looking_you_up_is_not_called_not_linked(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    fake_slack.fail("users.info", "internal_error", times=10)
    body, _ = slash(app, fake_slack, "acme corp amount=5k")
    text = flat(body)
    assert "Slack didn't tell me who you are" in text
    assert "couldn't match your Slack account" not in text
    assert outbox_rows(app) == []
