"""`/deal` typed in French by a French rep, next to an English rep in the same workspace: signed
requests into the real app, the fake Slack (with each person's locale) and the fake HubSpot."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

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
from tests.fakes.hubspot import FakeHubSpot, Stage
from tests.fakes.slack import FakeSlack
from tests.test_deal_command import flat, hubspot_writes, slash

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)  # a Friday morning in Paris
NBSP, NNBSP = "\u00a0", "\u202f"
CAMILLE = "U0CAMILLE"  # a French rep: her Slack is in fr-FR


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(frozen_at=NOW)


@pytest.fixture
def team(fake_hubspot: FakeHubSpot, fake_slack: FakeSlack, clock: SettableClock) -> Team:
    return seed(fake_hubspot, fake_slack, now=clock())


@pytest.fixture
def dupain(fake_hubspot: FakeHubSpot, fake_slack: FakeSlack, team: Team) -> str:
    """Camille's deal, in a pipeline whose stages HubSpot shows in French."""
    fake_hubspot.add_pipeline(
        "ventes",
        "Ventes",
        [
            Stage("rdv", "Rendez-vous", 0.2),
            Stage("nego", "Négociation", 0.6),
            Stage("gagne", "Gagnée", 1.0, True),
            Stage("perdu", "Perdue", 0.0, True),
        ],
    )
    fake_hubspot.add_owner("104", "camille@acme.example", "Camille", "Roux")
    fake_slack.add_user(CAMILLE, "camille@acme.example", "Camille Roux", tz="Europe/Paris", locale="fr-FR")
    return fake_hubspot.add_deal(
        dealname="Boulangerie Dupain",
        hubspot_owner_id="104",
        pipeline="ventes",
        dealstage="rdv",
        amount="8000",
        closedate="2027-02-01T00:00:00Z",
        createdate=str(int(NOW.timestamp() * 1000) - 90 * 86_400_000),
        deal_currency_code="EUR",
    )


@pytest.fixture
def app(
    engine: Any,
    database_url: str,
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    team: Team,
    dupain: str,
    clock: SettableClock,
) -> Iterator[RunningApp]:
    running = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=clock)
    fake_hubspot.reset_requests()
    yield running
    stop_app(running)


def saved(fake_slack: FakeSlack, url: str) -> Any:
    return wait_until(lambda: [r for r in fake_slack.responses(url) if "✅" in flat(r)], what="saved")[-1]


def test_a_french_rep_updates_a_deal_in_french(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, dupain: str
) -> None:
    _, url = slash(app, fake_slack, "dupain montant=12,5k clôture=fdm étape=negociation", user=CAMILLE)
    saved(fake_slack, url)
    props = fake_hubspot.deals[dupain]["properties"]
    assert props["amount"] == "12500"
    assert props["closedate"].startswith("2026-12-31")  # the end of this month, in Paris
    assert props["dealstage"] == "nego"  # "Négociation", typed without its accent


def test_a_french_rep_types_day_first_dates_and_spaced_amounts(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, dupain: str
) -> None:
    _, url = slash(app, fake_slack, f"dupain MONTANT=12{NBSP}500{NNBSP}€ Cloture=15/01/2027", user=CAMILLE)
    saved(fake_slack, url)
    props = fake_hubspot.deals[dupain]["properties"]
    assert props["amount"] == "12500"
    assert props["closedate"].startswith("2027-01-15")


def test_an_amount_that_reads_two_ways_is_asked_back_and_nothing_is_written(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, dupain: str
) -> None:
    body, _ = slash(app, fake_slack, "dupain montant=12,500", user=CAMILLE)
    assert (
        f"`montant=12,500`, c\u2019est 12,5 ou 12{NNBSP}500{NBSP}? Dans le doute, je n\u2019ai rien "
        f"changé{NBSP}: écris `montant=12,5` ou `montant=12500`."
    ) in flat(body)
    assert outbox_rows(app) == []
    assert audit_count(app) == 0
    time.sleep(0.2)  # the outbox worker would have written by now
    assert hubspot_writes(fake_hubspot) == 0
    assert fake_hubspot.deals[dupain]["properties"]["amount"] == "8000"


def test_an_english_rep_still_writes_thousands_with_a_comma(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    _, url = slash(app, fake_slack, "acme corp amount=12,500")
    saved(fake_slack, url)
    assert fake_hubspot.deals[team.acme]["properties"]["amount"] == "12500"


def test_an_english_rep_may_type_french_keys_and_is_answered_in_english(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, team: Team
) -> None:
    _, url = slash(app, fake_slack, "acme corp montant=12,5k clôture=fdm")
    saved(fake_slack, url)
    props = fake_hubspot.deals[team.acme]["properties"]
    assert props["amount"] == "12500"
    assert props["closedate"].startswith("2026-12-31")
    body, _ = slash(app, fake_slack, "acme corp close=15/01/2027")
    assert "`close=15/01/2027` could be read two ways — write it as YYYY-MM-DD" in flat(body)


def test_aide_shows_the_french_help_to_a_french_rep_and_help_the_english_one_to_an_english_rep(
    app: RunningApp, fake_slack: FakeSlack
) -> None:
    french = flat(slash(app, fake_slack, "aide", user=CAMILLE)[0])
    assert "*`/deal` — retrouve et mets à jour tes affaires*" in french
    assert '`/deal acme étape=contrat montant=12,5k clôture=fdm prochaine=\\"Envoyer le contrat\\"`' in french
    assert f"les clés en anglais marchent aussi{NBSP}: `stage`, `amount`, `close`, `next`" in french
    assert "`/deal aide` réaffiche ce message." in french
    assert french == flat(slash(app, fake_slack, "help", user=CAMILLE)[0])
    english = flat(slash(app, fake_slack, "help")[0])
    assert "*`/deal` — find and update your deals*" in english
    assert "`/deal help` shows this again." in english
    assert "montant" in english and "tes affaires" not in english


def test_a_french_rep_gets_parse_errors_in_french(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    body, _ = slash(app, fake_slack, "dupain montnt=12k", user=CAMILLE)
    assert (
        f"Je ne connais pas la clé `montnt`. Tu voulais dire `montant`{NBSP}? "
        f"Clés{NBSP}: `étape`, `montant`, `clôture`, `prochaine`, `note`, `champion`.\\n"
        "Tape `/deal aide` pour voir des exemples."
    ) in flat(body)
    body, _ = slash(app, fake_slack, "dupain étape=gagnee clôture=31/02", user=CAMILLE)
    assert (
        "`clôture=31/02` n\u2019est pas une vraie date — le jour d\u2019abord, puis le mois, "
        "par ex. `clôture=15/01/2027`."
    ) in flat(body)
    assert outbox_rows(app) == []
    assert hubspot_writes(fake_hubspot) == 0


def test_the_update_modal_reads_a_french_amount_and_asks_back_an_ambiguous_one_inline(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, dupain: str
) -> None:
    url = fake_slack.response_url()
    app.slack.block_actions(
        user_id=CAMILLE,
        actions=[
            {"type": "button", "action_id": "deal.update", "block_id": f"actions:{dupain}", "value": dupain}
        ],
        response_url=url,
    )
    view = wait_until(lambda: fake_slack.calls_to("views.open"), what="views.open")[0].decoded("view")
    state: dict[str, Any] = {
        "stage": {"value": {"type": "static_select", "selected_option": {"value": "rdv"}}},
        "amount": {"value": {"type": "plain_text_input", "value": "12,500"}},
        "close": {"value": {"type": "datepicker", "selected_date": None}},
        "next": {"value": {"type": "plain_text_input", "value": None}},
    }
    response = app.slack.view_submission(
        user_id=CAMILLE, view={**view, "state": {"values": state}, "id": "V1"}
    )
    assert response.json()["response_action"] == "errors"
    assert response.json()["errors"]["amount"].startswith(
        f"`montant=12,500`, c\u2019est 12,5 ou 12{NNBSP}500"
    )
    assert outbox_rows(app) == []

    state["amount"]["value"]["value"] = "12,5k"
    response = app.slack.view_submission(
        user_id=CAMILLE, view={**view, "state": {"values": state}, "id": "V1"}
    )
    assert not response.content or "errors" not in response.json()
    wait_until(lambda: fake_hubspot.deals[dupain]["properties"]["amount"] == "12500", what="amount saved")
