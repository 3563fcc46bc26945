"""The deal use cases the Slack listeners call, without Slack: `/deal`, pickers, buttons, modals,
nudge answers and App Home, on the demo CRM's deals in the mirror."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.deals import refusals
from core.deals.commands import (
    AlreadyClosed,
    Card,
    Choose,
    DealCommands,
    DealList,
    FormProblems,
    NoMatch,
    Overview,
    Refused,
    Stored,
    Unchanged,
    Usage,
)
from core.deals.desk import Accepted, DealDesk, DealView
from core.deals.nudge_answers import NudgeAnswers, Snoozed
from core.deals.permissions import NOT_LINKED
from core.mirror.sync import sync_mirror
from core.models import MirrorDeal, NudgeRecord, OutboxEntry, Snooze
from core.people import PeopleDirectory, PersonLink, SlackProfile
from integrations.demo import DemoCRM
from integrations.demo_seed import MANAGER, PEOPLE, REPS, seed_demo_crm

NOW = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)  # a Tuesday
ALICE, BRUNO = REPS[0], REPS[1]
STRANGER = "U0NOBODY"  # in Slack, but no CRM owner has their email


@dataclass
class Desk:
    sessions: sessionmaker[Session]
    deals: DealCommands
    answers: NudgeAnswers
    stored: list[tuple[str, str, str | None]]

    def with_store(self) -> DealCommands:
        """The same use cases as `serve` wires them: updates stored as typed, answered after the ack."""
        d = self.deals
        return DealCommands(
            self.sessions,
            d.desk,
            d.people,
            clock=d.clock,
            crm_label=d.crm_label,
            store_command=lambda *typed: self.stored.append(typed),
        )

    def mine(self, slack_id: str) -> list[DealView]:
        return self.deals.desk.my_open_deals(self.deals.people.actor(slack_id))

    def outbox(self) -> list[OutboxEntry]:
        with self.sessions() as session:
            return list(session.scalars(select(OutboxEntry).order_by(OutboxEntry.id)))


@pytest.fixture
def desk(sessions: sessionmaker[Session]) -> Desk:
    with sessions.begin() as session:
        seed_demo_crm(session, NOW)
    sync_mirror(DemoCRM(sessions, clock=lambda: NOW), sessions, now=NOW, full=True)
    profiles = {p.slack_id: SlackProfile(p.slack_id, p.email, p.first_name, "Europe/Paris") for p in PEOPLE}
    profiles[STRANGER] = SlackProfile(STRANGER, "nobody@elsewhere.example", "Nobody", "Europe/Paris")
    people = PeopleDirectory(
        sessions,
        profiles.get,
        links=[PersonLink(r.owner_id, r.slack_id, MANAGER.slack_id) for r in REPS],
        default_tz="Europe/Paris",
        clock=lambda: NOW,
    )
    deal_desk = DealDesk(sessions, deal_url=lambda i: f"https://crm.example/deals/{i}", clock=lambda: NOW)
    deals = DealCommands(sessions, deal_desk, people, clock=lambda: NOW, crm_label="the demo CRM")
    return Desk(sessions, deals, NudgeAnswers(sessions, deals), [])


def quoted(deal: DealView) -> str:
    return f'"{deal.name}"'


def test_help_and_a_typo_are_answered_without_looking_anyone_up(desk: Desk) -> None:
    usage = desk.deals.answer(STRANGER, "help", None)
    assert isinstance(usage, Usage)
    assert "amount=" in usage.text
    typo = desk.deals.answer(ALICE.slack_id, "acme colour=red", None)
    assert isinstance(typo, Refused)
    assert "Type `/deal help` for examples." in typo.message


def test_deal_alone_lists_only_my_own_open_deals(desk: Desk) -> None:
    listed = desk.deals.answer(ALICE.slack_id, "", None)
    assert isinstance(listed, DealList)
    assert listed.deals and {d.owner_id for d in listed.deals} == {ALICE.owner_id}
    assert not any(d.is_closed for d in listed.deals)
    assert desk.deals.answer(STRANGER, "", None) == Refused(NOT_LINKED)


def test_a_search_shows_a_card_a_picker_or_says_nothing_matches(desk: Desk) -> None:
    target = desk.mine(ALICE.slack_id)[0]
    card = desk.deals.answer(ALICE.slack_id, quoted(target), None)
    assert isinstance(card, Card)
    assert card.deal.id == target.id
    picker = desk.deals.answer(ALICE.slack_id, _shared_word(desk.deals.desk.open_deals()), None)
    assert isinstance(picker, Choose)
    assert len(picker.matches) > 1
    assert picker.choice_id is None  # a search keeps nothing waiting
    assert desk.deals.answer(ALICE.slack_id, "zzz-no-such-deal", None) == NoMatch("zzz-no-such-deal")


def test_an_update_is_checked_permitted_and_stored_once(desk: Desk) -> None:
    target = desk.mine(ALICE.slack_id)[0]
    accepted = desk.deals.answer(ALICE.slack_id, f"{quoted(target)} amount=12k", None, key="cmd-1")
    assert isinstance(accepted, Accepted)
    assert [(c.label, c.after) for c in accepted.changes] == [("Amount", "€12,000")]
    again = desk.deals.answer(ALICE.slack_id, f"{quoted(target)} amount=12k", None, key="cmd-1")
    assert isinstance(again, Accepted)  # a retried command stores nothing twice
    entries = desk.outbox()
    assert [(e.deal_id, e.changes, e.requested_by) for e in entries] == [
        (target.id, {"amount": "12000"}, ALICE.slack_id)
    ]


def test_a_bad_value_is_refused_before_permissions_and_nothing_is_stored(desk: Desk) -> None:
    brunos = desk.mine(BRUNO.slack_id)[0]
    bad = desk.deals.answer(ALICE.slack_id, f"{quoted(brunos)} amount=lots", None)
    assert isinstance(bad, Refused)
    assert "lots" in bad.message
    not_hers = desk.deals.answer(ALICE.slack_id, f"{quoted(brunos)} amount=5k", None)
    assert isinstance(not_hers, Refused)
    assert not_hers.message.startswith("You can only update your own deals")
    assert desk.outbox() == []


def test_the_manager_may_update_a_reports_deal(desk: Desk) -> None:
    brunos = desk.mine(BRUNO.slack_id)[0]
    assert isinstance(desk.deals.answer(MANAGER.slack_id, f"{quoted(brunos)} next=Call", None), Accepted)


def test_a_value_already_held_is_unchanged_not_refused_for_a_reason(desk: Desk) -> None:
    target = desk.mine(ALICE.slack_id)[0]
    same = desk.deals.answer(ALICE.slack_id, f"{quoted(target)} stage={target.stage_id}", None)
    assert isinstance(same, Unchanged)
    assert same.message == f"Nothing to change on *{target.name}*: Stage is already {target.stage_label}."
    assert desk.outbox() == []


def test_with_a_store_an_update_is_kept_as_typed_and_a_search_answered_at_once(desk: Desk) -> None:
    deals = desk.with_store()
    target = desk.mine(ALICE.slack_id)[0]
    typed = f"{quoted(target)} amount=12k"
    assert deals.receive(ALICE.slack_id, typed, "https://hooks.example/1") == Stored()
    assert desk.stored == [(ALICE.slack_id, typed, "https://hooks.example/1")]
    assert isinstance(deals.receive(ALICE.slack_id, quoted(target), None), Card)
    assert desk.outbox() == []


def _shared_word(deals: list[DealView]) -> str:
    """A word in the names of at least two deals: a search that needs a pick."""
    words: dict[str, int] = {}
    for deal in deals:
        for word in set(deal.name.lower().replace("—", " ").split()):
            words[word] = words.get(word, 0) + 1
    return next(w for w, n in sorted(words.items()) if n > 1 and len(w) > 3)


def test_an_update_matching_several_deals_waits_for_its_authors_pick(desk: Desk) -> None:
    word = _shared_word(desk.deals.desk.open_deals())
    picker = desk.deals.answer(MANAGER.slack_id, f"{word} next=Call", None)
    assert isinstance(picker, Choose)
    assert picker.choice_id is not None
    assert desk.outbox() == []
    chosen = next(d for d in picker.matches if not d.is_closed)
    expired = Refused("That choice has expired. Run your `/deal` command again.")
    assert desk.deals.pick(ALICE.slack_id, picker.choice_id, chosen.id, None) == expired
    # Someone else's click used it up: the author asks again and picks.
    picker = desk.deals.answer(MANAGER.slack_id, f"{word} next=Call", None)
    assert isinstance(picker, Choose) and picker.choice_id is not None
    picked = desk.deals.pick(MANAGER.slack_id, picker.choice_id, chosen.id, None)
    assert isinstance(picked, Accepted)
    assert picked.deal.id == chosen.id
    assert desk.deals.pick(MANAGER.slack_id, picker.choice_id, chosen.id, None) == expired
    assert [e.changes for e in desk.outbox()] == [{"next_step": "Call"}]


def test_buttons_still_on_track_mark_lost_and_card(desk: Desk) -> None:
    target = desk.mine(ALICE.slack_id)[0]
    on_track = desk.deals.button(ALICE.slack_id, "on_track", target.id, None)
    assert isinstance(on_track, Accepted)
    assert on_track.note == "Reviewed in Slack with Drumbeat: still on track."
    lost = desk.deals.button(ALICE.slack_id, "mark_lost", target.id, None)
    assert isinstance(lost, Accepted)
    assert [c.label for c in lost.changes] == ["Stage"]
    assert isinstance(desk.deals.button(ALICE.slack_id, "card", target.id, None), Card)
    closed = _closed(desk)[0]
    assert desk.deals.button(MANAGER.slack_id, "mark_lost", closed.id, None) == AlreadyClosed(closed)
    gone = desk.deals.button(ALICE.slack_id, "on_track", "no-such-deal", None)
    assert gone == Refused("That deal is gone from the CRM: it may have been deleted.")


def _closed(desk: Desk) -> list[DealView]:
    with desk.sessions() as session:
        ids = session.scalars(select(MirrorDeal.id).where(MirrorDeal.is_closed.is_(True))).all()
    return [d for d in (desk.deals.desk.get(i) for i in ids) if d is not None]


def test_the_update_modal_puts_each_problem_on_its_field(desk: Desk) -> None:
    target = desk.mine(ALICE.slack_id)[0]
    # The inputs as the modal holds them, by field key: the next step prefilled as it is.
    fields: dict[str, str | None] = {"stage": None, "close": None, "next": target.next_step or ""}
    bad = desk.deals.submit_update(ALICE.slack_id, target.id, {**fields, "amount": "lots"}, response_url=None)
    assert isinstance(bad, FormProblems)
    assert list(bad.errors) == ["amount"]
    gone = desk.deals.submit_update("U0ALICE", "no-such-deal", {**fields, "amount": None}, response_url=None)
    assert gone == FormProblems({"stage": refusals.DEAL_GONE})
    nothing = desk.deals.submit_update(
        ALICE.slack_id, target.id, {**fields, "amount": None}, response_url=None
    )
    assert isinstance(nothing, Unchanged)  # nothing edited: the modal just closes
    saved = desk.deals.submit_update(
        ALICE.slack_id, target.id, {**fields, "amount": "12k"}, response_url=None
    )
    assert isinstance(saved, Accepted)
    assert [e.source for e in desk.outbox()] == ["modal"]


def test_the_note_modal_wants_some_text(desk: Desk) -> None:
    target = desk.mine(ALICE.slack_id)[0]
    blank = desk.deals.submit_note(ALICE.slack_id, target.id, "  ", response_url=None)
    assert blank == FormProblems({"note": "Write something first."})
    noted = desk.deals.submit_note(ALICE.slack_id, target.id, "Met the CFO", response_url=None)
    assert isinstance(noted, Accepted)
    assert noted.note == "Met the CFO"


def _nudged(desk: Desk, slack_id: str, deal_id: str) -> None:
    with desk.sessions.begin() as session:
        session.add(
            NudgeRecord(
                slack_user=slack_id,
                deal_id=deal_id,
                ritual_id="stale-deals",
                day=NOW.date(),
                firing_id=1,
                queued_at=NOW,
            )
        )


def _answers(desk: Desk) -> list[str | None]:
    with desk.sessions() as session:
        return list(session.scalars(select(NudgeRecord.answer)))


def test_snoozing_from_a_nudge_hides_the_deal_and_counts_as_the_answer(desk: Desk) -> None:
    target = desk.mine(ALICE.slack_id)[0]
    _nudged(desk, ALICE.slack_id, target.id)
    snoozed = desk.answers.snooze_for(ALICE.slack_id, target.id, 7)
    assert snoozed == Snoozed(target.id, date(2026, 3, 17))
    with desk.sessions() as session:
        row = session.get(Snooze, target.id)
        assert row is not None and row.until == date(2026, 3, 17)
    assert _answers(desk) == ["snooze"]
    assert [e.note for e in desk.outbox()] == ["Snoozed in Slack until 17 Mar 2026."]


def test_a_refused_snooze_records_no_answer(desk: Desk) -> None:
    target = desk.mine(ALICE.slack_id)[0]
    _nudged(desk, ALICE.slack_id, target.id)
    past = desk.answers.snooze_until(ALICE.slack_id, target.id, NOW.date(), reason=None)
    assert past == Refused("Pick a date after today.")
    assert _answers(desk) == [None]
    with desk.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Snooze)) == 0


def test_nudge_buttons_record_their_answer_once_the_change_is_stored(desk: Desk) -> None:
    target = desk.mine(ALICE.slack_id)[0]
    _nudged(desk, ALICE.slack_id, target.id)
    refused = desk.answers.button(BRUNO.slack_id, "on_track", target.id)
    assert isinstance(refused, Refused)
    assert _answers(desk) == [None]
    assert isinstance(desk.answers.button(ALICE.slack_id, "on_track", target.id), Accepted)
    assert _answers(desk) == ["on_track"]
    assert [e.source for e in desk.outbox()] == ["nudge"]


def test_see_the_other_deals_lists_only_my_stale_ones(desk: Desk) -> None:
    listed = desk.answers.stale_deals(ALICE.slack_id)
    assert {d.owner_id for d in listed.deals} <= {ALICE.owner_id}
    assert all(d.is_stale(NOW, listed.stale_after_days, today=listed.today) for d in listed.deals)


def test_app_home_overview_counts_my_fresh_deals_and_streak(desk: Desk) -> None:
    assert desk.deals.overview(STRANGER) == Refused(NOT_LINKED)
    overview = desk.deals.overview(ALICE.slack_id)
    assert isinstance(overview, Overview)
    assert [d.id for d in overview.deals] == [d.id for d in desk.mine(ALICE.slack_id)]
    assert set(overview.fresh) <= set(overview.deals)
    assert overview.streak >= 0
    assert overview.today == date(2026, 3, 10)
    assert overview.now - NOW == timedelta(0)
