# ruff: noqa: RUF001  (French is written with the typographic apostrophe U+2019, on purpose)
"""A French rep and an English rep in one workspace, each reading their own language: the nudge DM,
its buttons, the modals' inline errors, `/deal` answers, the saved notice and App Home, driven with
signed requests into the real app against the fake Slack (Claire's Slack locale is `fr-FR`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from core.deals.streaks import record_review_week
from rituals.config import parse_rituals_text
from tests.conftest import RunningApp, stop_app
from tests.deal_scenario import SettableClock, outbox_rows, start_drumbeat, wait_until
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack

NBSP, NNBSP = "\u00a0", "\u202f"  # Babel's French: a no-break space before €, a narrow one in 12 500
RITUALS = """
timezone: Europe/Paris
people:
  - {crm_owner: "201", slack: U0CLAIRE}
  - {crm_owner: "202", slack: U0BEN}
rituals:
  - id: stale-deals
    kind: stale_deals
    schedule: "0 9 * * mon-fri"
    stale_after_days: 14
    snooze_days: [3, 7, 14]
  - id: deal-hygiene
    kind: hygiene
    schedule: "10 9 * * mon-fri"
    rules:
      - {check: close_date_past}
"""
TUESDAY_9 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # 09:00 in Paris


@dataclass
class Deals:
    soylent: str  # Claire's, stale, €12,500
    umbrella: str  # Claire's, fresh, its close date passed on 21 Nov
    hooli: str  # Ben's, stale, €8,000


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(TUESDAY_9)


@pytest.fixture
def deals(fake_hubspot: FakeHubSpot, fake_slack: FakeSlack) -> Deals:
    fake_hubspot.add_default_pipeline()
    fake_hubspot.add_owner("201", "claire@acme.example", "Claire", "Martin")
    fake_hubspot.add_owner("202", "ben@acme.example", "Ben", "Smith")
    fake_slack.add_user("U0CLAIRE", "claire@acme.example", "Claire Martin", locale="fr-FR")
    fake_slack.add_user("U0BEN", "ben@acme.example", "Ben Smith", locale="en-GB")

    def deal(name: str, owner: str, stage: str, amount: str, close: date, touched_days_ago: int) -> str:
        touched = str(int((TUESDAY_9 - timedelta(days=touched_days_ago)).timestamp() * 1000))
        return fake_hubspot.add_deal(
            dealname=name,
            hubspot_owner_id=owner,
            pipeline="default",
            dealstage=stage,
            amount=amount,
            closedate=close.isoformat() + "T00:00:00Z",
            notes_last_updated=touched,
            createdate=str(int((TUESDAY_9 - timedelta(days=90)).timestamp() * 1000)),
            deal_currency_code="EUR",
        )

    return Deals(
        soylent=deal("Soylent", "201", "presentationscheduled", "12500", date(2026, 12, 4), 40),
        umbrella=deal("Umbrella", "201", "contractsent", "7000", date(2026, 11, 21), 2),
        hooli=deal("Hooli", "202", "qualifiedtobuy", "8000", date(2026, 12, 18), 30),
    )


@pytest.fixture
def app(
    engine: Any,
    database_url: str,
    fake_slack: FakeSlack,
    fake_hubspot: FakeHubSpot,
    deals: Deals,
    clock: SettableClock,
) -> Iterator[RunningApp]:
    running = start_drumbeat(
        database_url, fake_slack, fake_hubspot, clock=clock, rituals=parse_rituals_text(RITUALS)
    )
    yield running
    stop_app(running)


def flat(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False)


def nudged(app: RunningApp, slack: FakeSlack, ritual: str = "stale-deals") -> dict[str, dict[str, Any]]:
    """Run the ritual and deliver its DMs: each rep's message, by Slack id."""
    app.runtime.engine.run(ritual, scheduled_for=TUESDAY_9)
    app.runtime.engine.deliver_due(app.runtime.send_dm)
    return {user: slack.messages_in(user)[-1] for user in ("U0CLAIRE", "U0BEN") if slack.messages_in(user)}


def click(app: RunningApp, slack: FakeSlack, user: str, action: dict[str, Any], **extra: Any) -> Any:
    message = slack.messages_in(user)[-1]
    channel = slack.im_channel(user) or "D0"
    container = {"type": "message", "message_ts": message["ts"], "channel_id": channel, "is_ephemeral": False}
    response = app.slack.block_actions(
        user_id=user, actions=[action], message=message, container=container, channel_id=channel, **extra
    )
    assert response.status_code == 200
    return response


def button(action_id: str, deal_id: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "block_id": f"nudge-actions:{deal_id}",
        "value": deal_id,
    }


def block(message: dict[str, Any], block_id: str) -> dict[str, Any]:
    return next(b for b in message["blocks"] if b.get("block_id") == block_id)


def crm_notes(hubspot: FakeHubSpot) -> list[str]:
    """The notes' text, without the reference Drumbeat appends to find its own notes again."""
    return [n["properties"]["hs_note_body"].split("\n\n(Drumbeat ref")[0] for n in hubspot.notes.values()]


def test_each_rep_reads_the_nudge_in_their_own_language(
    app: RunningApp, fake_slack: FakeSlack, deals: Deals
) -> None:
    dms = nudged(app, fake_slack)
    claire, ben = dms["U0CLAIRE"], dms["U0BEN"]

    assert claire["text"] == "Salut Claire\u00a0! Affaires à jour\u00a0: 1 sur 2 — 1 mérite un coup d’œil."
    row = block(claire, f"nudge:{deals.soylent}")["text"]["text"]
    assert row.endswith(
        f"|Soylent>* · Presentation Scheduled · 12{NNBSP}500{NBSP}€\n_sans nouvelles depuis 40 jours_"
    )
    on_track, update, snooze, lost = block(claire, f"nudge-actions:{deals.soylent}")["elements"]
    assert (on_track["text"]["text"], update["text"]["text"]) == ("Toujours d’actualité", "Mettre à jour…")
    assert snooze["placeholder"]["text"] == "Mettre en pause"
    assert [o["text"]["text"] for o in snooze["options"]] == [
        "3 jours",
        "7 jours",
        "14 jours",
        "Jusqu’à une date…",
    ]
    assert lost["text"]["text"] == "Marquer perdue"
    assert lost["confirm"] == {
        "title": {"type": "plain_text", "text": "Marquer l’affaire perdue\u00a0?"},
        "text": {"type": "mrkdwn", "text": "*Soylent* passe à l’étape «\u00a0perdue\u00a0»."},
        "confirm": {"type": "plain_text", "text": "Marquer perdue"},
        "deny": {"type": "plain_text", "text": "La garder ouverte"},
        "style": "danger",
    }
    assert (
        claire["blocks"][-1]["elements"][0]["text"]
        == "Un clic suffit\u00a0: tout part directement dans le CRM."
    )

    assert ben["text"] == "Hi Ben! 0 of your 1 open deals are fresh — 1 needs a look."
    hooli = block(ben, f"nudge:{deals.hooli}")["text"]["text"]
    assert hooli.endswith("|Hooli>* · Qualified To Buy · €8,000\n_untouched for 30 days_")
    assert "Still on track" in flat(ben["blocks"]) and "Toujours" not in flat(ben["blocks"])


def test_the_hygiene_dm_writes_a_french_date(app: RunningApp, fake_slack: FakeSlack, deals: Deals) -> None:
    claire = nudged(app, fake_slack, "deal-hygiene")["U0CLAIRE"]
    assert claire["text"] == "Salut Claire, quelques détails à régler sur 1 affaire\u00a0:"
    row = block(claire, f"nudge:{deals.umbrella}")["text"]["text"]
    assert row.endswith(f"· Contract Sent · 7{NNBSP}000{NBSP}€\n_date de clôture du 21 nov. dépassée_")


def test_button_answers_read_in_the_clickers_language_and_notes_go_to_the_crm_in_it(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, deals: Deals
) -> None:
    nudged(app, fake_slack)
    click(app, fake_slack, "U0CLAIRE", button("nudge.on_track", deals.soylent))
    click(app, fake_slack, "U0BEN", button("nudge.on_track", deals.hooli))
    updates = wait_until(
        lambda: len(fake_slack.calls_to("chat.update")) >= 2 and fake_slack.calls_to("chat.update")
    )
    said = {u.decoded("channel"): flat(u.decoded("blocks")) for u in updates}
    assert (
        "✅ Toujours d’actualité\u00a0: noté dans le CRM. (HubSpot)"
        in said[fake_slack.im_channel("U0CLAIRE")]
    )
    assert "✅ Still on track: noted in the CRM. (HubSpot)" in said[fake_slack.im_channel("U0BEN")]
    wait_until(lambda: len(crm_notes(fake_hubspot)) == 2, what="two review notes")
    assert sorted(crm_notes(fake_hubspot)) == [
        "Reviewed in Slack with Drumbeat: still on track.",
        "Revue dans Slack avec Drumbeat\u00a0: toujours d’actualité.",
    ]


def test_a_french_snooze_and_mark_lost(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, deals: Deals
) -> None:
    nudged(app, fake_slack)
    week = {"type": "plain_text", "text": "7 jours"}
    snooze = {
        "type": "static_select",
        "action_id": "nudge.snooze",
        "block_id": f"nudge-actions:{deals.soylent}",
        "selected_option": {"text": week, "value": f"7:{deals.soylent}"},
    }
    click(app, fake_slack, "U0CLAIRE", snooze)
    updated = wait_until(lambda: fake_slack.calls_to("chat.update"), what="chat.update")
    assert "😴 En pause jusqu’au mar. 1 déc." in flat(updated[-1].decoded("blocks"))
    wait_until(lambda: crm_notes(fake_hubspot), what="snooze note")
    assert crm_notes(fake_hubspot) == ["Mis en pause dans Slack jusqu’au 1 déc. 2026."]

    # The snooze modal, from "Until a date…": in French too.
    until = {**snooze, "selected_option": {"text": week, "value": f"date:{deals.soylent}"}}
    click(app, fake_slack, "U0CLAIRE", until)
    modal = wait_until(lambda: fake_slack.calls_to("views.open"), what="views.open")[-1].decoded("view")
    assert modal["title"]["text"] == "Mettre en pause"
    assert [b["label"]["text"] for b in modal["blocks"]] == ["Jusqu’au", "Pourquoi\u00a0? (ajouté en note)"]


def test_a_french_mark_lost(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, deals: Deals
) -> None:
    nudged(app, fake_slack)
    click(app, fake_slack, "U0CLAIRE", button("nudge.mark_lost", deals.soylent))
    wait_until(
        lambda: fake_hubspot.deals[deals.soylent]["properties"]["dealstage"] == "closedlost", what="lost"
    )
    done = wait_until(
        lambda: [u for u in fake_slack.calls_to("chat.update") if "Marquée" in flat(u.decoded("blocks"))],
        what="the nudge updated",
    )
    assert "Marquée perdue dans le CRM. (HubSpot)" in flat(done[-1].decoded("blocks"))


def test_the_modals_and_their_inline_errors_are_in_french(
    app: RunningApp, fake_slack: FakeSlack, deals: Deals
) -> None:
    nudged(app, fake_slack)
    click(app, fake_slack, "U0CLAIRE", button("nudge.update", deals.soylent))
    view = wait_until(lambda: fake_slack.calls_to("views.open"), what="views.open")[-1].decoded("view")
    assert (view["title"]["text"], view["submit"]["text"], view["close"]["text"]) == (
        "Mettre à jour l’affaire",
        "Enregistrer",
        "Annuler",
    )
    labels = [b["label"]["text"] for b in view["blocks"] if b["type"] == "input"]
    assert labels == ["Étape", "Montant", "Date de clôture", "Prochaine étape"]
    assert "Pipeline Sales Pipeline · responsable\u00a0: Claire Martin" in view["blocks"][0]["text"]["text"]

    # Claire submits the modal on Ben's deal: the refusal shows on the field, in her language.
    state = {"stage": {"value": {"type": "static_select", "selected_option": {"value": "contractsent"}}}}
    theirs = {**view, "private_metadata": json.dumps({"deal_id": deals.hooli}), "state": {"values": state}}
    response = app.slack.view_submission(user_id="U0CLAIRE", view=theirs)
    assert response.json() == {
        "response_action": "errors",
        "errors": {
            "stage": "Tu ne peux modifier que tes propres affaires, et celle-ci est à Ben Smith. "
            "Demande à Ben Smith, à son manager ou à un admin Drumbeat."[:150]
        },
    }
    note = {"callback_id": "deal.note_modal", "private_metadata": json.dumps({"deal_id": deals.soylent})}
    blank = {"note": {"value": {"type": "plain_text_input", "value": "  "}}}
    for user, said in (("U0CLAIRE", "Écris d’abord quelque chose."), ("U0BEN", "Write something first.")):
        response = app.slack.view_submission(user_id=user, view={**note, "state": {"values": blank}})
        assert response.json() == {"response_action": "errors", "errors": {"note": said}}
    nul = {"note": {"value": {"type": "plain_text_input", "value": "call\x00back"}}}
    response = app.slack.view_submission(user_id="U0CLAIRE", view={**note, "state": {"values": nul}})
    assert response.json()["errors"] == {
        "note": "La note contient un caractère de contrôle (U+0000) impossible à enregistrer\u00a0: "
        "retire-le et renvoie."
    }
    assert outbox_rows(app) == []


def test_a_deal_card_and_the_saved_notice_in_french(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, deals: Deals
) -> None:
    card = app.slack.slash_command(
        "umbrella", user_id="U0CLAIRE", response_url=fake_slack.response_url()
    ).json()
    fields = [f["text"] for f in card["blocks"][1]["fields"]]
    assert fields == [
        "*Étape*\nContract Sent",
        f"*Montant*\n7{NNBSP}000{NBSP}€",
        "*Date de clôture*\n21 nov. 2026 (dépassée)",
        "*Prochaine étape*\n—",
        "*Responsable*\nClaire Martin",
        "*Dernière activité*\nil y a 2 jours",
    ]
    buttons = [e["text"]["text"] for e in card["blocks"][-1]["elements"]]
    assert buttons == ["Mettre à jour…", "Toujours d’actualité", "Note…", "Marquer perdue"]

    url = fake_slack.response_url()
    app.slack.slash_command(
        'umbrella amount=12500 next="Envoyer le contrat"', user_id="U0CLAIRE", response_url=url
    )
    saved = wait_until(lambda: [r for r in fake_slack.responses(url) if "✅" in flat(r)], what="saved notice")
    assert saved[-1]["blocks"][0]["text"]["text"].endswith(
        f"|Umbrella>*\n• Montant\u00a0: 7{NNBSP}000{NBSP}€ → *12{NNBSP}500{NBSP}€*\n"
        "• Prochaine étape\u00a0: — → *Envoyer le contrat*"
    )
    assert saved[-1]["blocks"][0]["text"]["text"].startswith("✅ Enregistré dans HubSpot\u00a0: *<")

    url = fake_slack.response_url()
    app.slack.slash_command("hooli amount=9000", user_id="U0BEN", response_url=url)
    saved = wait_until(lambda: [r for r in fake_slack.responses(url) if "✅" in flat(r)], what="saved notice")
    assert saved[-1]["blocks"][0]["text"]["text"].startswith("✅ Saved in HubSpot: *<")
    assert "• Amount: €8,000 → *€9,000*" in saved[-1]["blocks"][0]["text"]["text"]


def test_app_home_in_french_with_the_streak(app: RunningApp, fake_slack: FakeSlack) -> None:
    with app.services.sessions.begin() as session:
        for weeks_ago in (1, 2, 3):
            day = TUESDAY_9.date() - timedelta(weeks=weeks_ago)
            record_review_week(session, "201", day, open_deals=2, reviewed_deals=2)
    app.slack.event({"type": "app_home_opened", "user": "U0CLAIRE", "tab": "home", "channel": "D0C"})
    published = wait_until(lambda: fake_slack.calls_to("views.publish"), what="views.publish")
    texts = [flat(b) for b in published[-1].decoded("view")["blocks"]]
    home = "\n".join(texts)
    assert "Ton pipeline" in home and "À revoir" in home
    assert f"*Sales Pipeline · Presentation Scheduled*\\n1 · 12{NNBSP}500{NBSP}€" in home
    assert "À jour\u00a0: 1 sur 2 affaires ouvertes." in home
    assert "🔥 *3 semaines à jour d’affilée*\u00a0: toutes tes affaires ouvertes ont été revues." in home
    assert "sans nouvelles depuis 40 jours" in home
    assert "date de clôture dépassée" in home
    assert "Mettre à jour…" in home

    app.slack.event({"type": "app_home_opened", "user": "U0BEN", "tab": "home", "channel": "D0B"})
    ben = wait_until(
        lambda: [p for p in fake_slack.calls_to("views.publish") if p.decoded("user_id") == "U0BEN"],
        what="Ben's home",
    )
    assert "Your pipeline" in flat(ben[-1].decoded("view")) and "€8,000" in flat(ben[-1].decoded("view"))


def test_a_refused_and_a_queued_update_are_told_in_french(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    fake_hubspot.fail_next(1, status=400, path_contains="/deals/batch/update")
    url = fake_slack.response_url()
    app.slack.slash_command("umbrella amount=12500", user_id="U0CLAIRE", response_url=url)
    refused = wait_until(lambda: [r for r in fake_slack.responses(url) if "⚠️" in flat(r)], what="refusal")
    said = refused[-1]["blocks"][0]["text"]["text"]
    assert said.startswith("⚠️ HubSpot n’a pas accepté ta mise à jour de *Umbrella*\u00a0: ")
    assert said.endswith("\nRien n’a été modifié.")

    fake_hubspot.fail_next(100, status=503, path_contains="/deals/batch/update")
    url = fake_slack.response_url()
    app.slack.slash_command("umbrella amount=13000", user_id="U0CLAIRE", response_url=url)
    queued = wait_until(lambda: [r for r in fake_slack.responses(url) if "🕒" in flat(r)], what="queued")
    assert queued[-1]["blocks"][0]["text"]["text"] == (
        "🕒 HubSpot ne répond pas pour le moment, alors ta mise à jour de *Umbrella* attend son tour. "
        "Pas d’inquiétude\u00a0: je réessaie et je te confirme ici dès qu’elle est enregistrée."
    )


def test_a_deal_deleted_in_the_crm_is_told_in_french_and_the_crms_own_words_pass_through(
    app: RunningApp, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot, deals: Deals
) -> None:
    fake_hubspot.archive_deal(deals.umbrella)  # deleted in HubSpot after Drumbeat's last sync
    url = fake_slack.response_url()
    app.slack.slash_command("umbrella amount=12500", user_id="U0CLAIRE", response_url=url)
    refused = wait_until(lambda: [r for r in fake_slack.responses(url) if "⚠️" in flat(r)], what="refusal")
    assert refused[-1]["blocks"][0]["text"]["text"] == (
        "⚠️ HubSpot n’a pas accepté ta mise à jour de *Umbrella*\u00a0: "
        "Cette affaire n’est plus dans le CRM\u00a0: elle a peut-être été supprimée.\nRien n’a été modifié."
    )

    # A value HubSpot refuses: its own words, quoted inside the French sentence, with no English frame.
    fake_hubspot.fail_next(1, status=400, path_contains="/deals/batch/update")
    url = fake_slack.response_url()
    app.slack.slash_command("hooli amount=9000", user_id="U0BEN", response_url=url)
    english = wait_until(lambda: [r for r in fake_slack.responses(url) if "⚠️" in flat(r)], what="refusal")
    assert "HubSpot refused the change" not in flat(english[-1])
