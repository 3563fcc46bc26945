"""Issue #11, batched writes: what is due goes to HubSpot in as few requests as it allows, the answer
updates the mirror with no read after the write, a refused value is told to its person only, and a
retried batch never logs a note twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core.mirror.sync import sync_mirror
from core.models import MirrorDeal, OutboxEntry
from core.queues.outbox import ApplyToCrm, ChangeRequest, Notice, Outbox, Write, enqueue, outbox_worker
from integrations.base import CrmRejected, DealUpdate, NoteDraft
from tests.conftest import stop_app
from tests.deal_scenario import SettableClock, outbox_rows, seed, start_drumbeat, wait_until
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.hubspot_helpers import (
    DEAL_BATCH_UPDATE,
    NOTE_BATCH_CREATE,
    deal_writes,
    fast_adapter,
    seed_team,
)

AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _deals(fake: FakeHubSpot, count: int) -> list[str]:
    return [
        fake.add_deal(dealname=f"Deal {i}", pipeline="default", dealstage="qualifiedtobuy", amount="100")
        for i in range(count)
    ]


def _notes_with(fake: FakeHubSpot, text: str) -> list[dict[str, Any]]:
    return [n for n in fake.notes.values() if text in (n["properties"]["hs_note_body"] or "")]


# --- the adapter, at the wire ---


def test_150_deals_are_written_in_two_batch_updates_and_read_back_from_the_answer(
    fake_hubspot: FakeHubSpot,
) -> None:
    seed_team(fake_hubspot)
    ids = _deals(fake_hubspot, 150)
    fake_hubspot.reset_requests()
    result = fast_adapter(fake_hubspot).update_deals(
        {deal_id: DealUpdate(amount=Decimal(2000 + i)) for i, deal_id in enumerate(ids)}
    )
    assert fake_hubspot.request_count(path_contains=DEAL_BATCH_UPDATE) == 2  # 100 + 50
    assert fake_hubspot.request_count(method="GET") == 0  # no read after the write
    assert result.refused == {}
    assert result.done[ids[7]].fields["amount"] == Decimal(2007)
    assert "last_modified_at" in result.done[ids[7]].fields
    assert fake_hubspot.deals[ids[149]]["properties"]["amount"] == "2149"


@pytest.mark.parametrize("shape", ["207 multi-status", "400 naming the input", "400 naming nothing"])
def test_one_refused_value_refuses_only_its_deal_and_the_others_land(
    fake_hubspot: FakeHubSpot, shape: str
) -> None:
    seed_team(fake_hubspot)
    ids = _deals(fake_hubspot, 40)
    fake_hubspot.partial_batches = shape.startswith("207")
    fake_hubspot.batch_errors_name_ids = shape != "400 naming nothing"
    bad = ids[23]
    updates = {deal_id: DealUpdate(amount=Decimal(500 + i)) for i, deal_id in enumerate(ids)}
    updates[bad] = DealUpdate(stage_id="no-such-stage")
    fake_hubspot.reset_requests()
    result = fast_adapter(fake_hubspot).update_deals(updates)

    assert set(result.refused) == {bad}
    refusal = result.refused[bad]
    assert isinstance(refusal, CrmRejected) and "no-such-stage" in str(refusal)
    assert set(result.done) == set(ids) - {bad}
    assert [fake_hubspot.deals[d]["properties"]["amount"] for d in ids if d != bad] == [
        str(500 + i) for i, d in enumerate(ids) if d != bad
    ]
    assert fake_hubspot.deals[bad]["properties"]["dealstage"] == "qualifiedtobuy"
    requests = fake_hubspot.request_count(path_contains=DEAL_BATCH_UPDATE)
    # 207: one request; a 400 that names the input: that one and the others again; naming nothing:
    # halves until the refused one stands alone (about 2 per halving of 40).
    assert requests == {"207 multi-status": 1, "400 naming the input": 2}.get(shape, requests)
    assert requests <= 13


def test_two_refused_values_in_a_400_each_get_their_own_reason(fake_hubspot: FakeHubSpot) -> None:
    seed_team(fake_hubspot)
    ids = _deals(fake_hubspot, 10)
    updates = {deal_id: DealUpdate(amount=Decimal(7)) for deal_id in ids}
    updates[ids[2]] = DealUpdate(stage_id="stage-two")
    updates[ids[8]] = DealUpdate(stage_id="stage-eight")
    result = fast_adapter(fake_hubspot).update_deals(updates)
    assert "stage-two" in str(result.refused[ids[2]]) and "stage-eight" not in str(result.refused[ids[2]])
    assert "stage-eight" in str(result.refused[ids[8]]) and "stage-two" not in str(result.refused[ids[8]])
    assert len(result.done) == 8


def test_a_deal_deleted_in_hubspot_is_refused_as_gone_and_the_others_land(fake_hubspot: FakeHubSpot) -> None:
    seed_team(fake_hubspot)
    ids = _deals(fake_hubspot, 3)
    fake_hubspot.archive_deal(ids[1])
    result = fast_adapter(fake_hubspot).update_deals({d: DealUpdate(next_step="Call") for d in ids})
    assert "deleted" in str(result.refused[ids[1]])
    assert set(result.done) == {ids[0], ids[2]}


def test_notes_go_in_one_batch_create_with_no_search_and_a_retry_finds_them(
    fake_hubspot: FakeHubSpot,
) -> None:
    seed_team(fake_hubspot)
    ids = _deals(fake_hubspot, 7)
    crm = fast_adapter(fake_hubspot)
    drafts = [NoteDraft(deal_id, f"Met them {i}", AT, f"key{i}x") for i, deal_id in enumerate(ids)]
    fake_hubspot.reset_requests()
    first = crm.add_notes(drafts)
    assert fake_hubspot.request_count(path_contains=NOTE_BATCH_CREATE) == 1
    assert fake_hubspot.request_count(path_contains="/search") == 0
    assert set(first.done) == {d.idempotency_key for d in drafts}
    body = fake_hubspot.requests[0].body["inputs"][0]
    assert body["associations"][0]["types"] == [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}
    ]

    fake_hubspot.reset_requests()  # the same notes again, as after a crash: looked for, not made twice
    again = crm.add_notes(drafts, look_first={d.idempotency_key for d in drafts})
    assert fake_hubspot.request_count(path_contains="/notes/search") == 2  # five keys a search
    assert fake_hubspot.request_count(path_contains=NOTE_BATCH_CREATE) == 0
    assert {k: n.id for k, n in again.done.items()} == {k: n.id for k, n in first.done.items()}
    assert all(len(_notes_with(fake_hubspot, f"Met them {i}")) == 1 for i in range(7))


@pytest.mark.parametrize("shape", ["400 for the batch", "207 multi-status"])
def test_a_note_hubspot_refuses_is_refused_alone(fake_hubspot: FakeHubSpot, shape: str) -> None:
    seed_team(fake_hubspot)
    fake_hubspot.partial_batches = shape.startswith("207")
    ids = _deals(fake_hubspot, 5)
    fake_hubspot.archive_deal(ids[3])  # the note's association is refused: the batch is all or nothing
    drafts = [NoteDraft(deal_id, f"Note {i}", AT, f"n{i}k") for i, deal_id in enumerate(ids)]
    result = fast_adapter(fake_hubspot).add_notes(drafts)
    assert set(result.refused) == {"n3k"}
    assert "does not exist" in str(result.refused["n3k"])
    assert sorted(result.done) == ["n0k", "n1k", "n2k", "n4k"]
    assert [len(_notes_with(fake_hubspot, f"Note {i}")) for i in range(5)] == [1, 1, 1, 0, 1]
    if shape.startswith("207"):
        assert fake_hubspot.request_count(path_contains=NOTE_BATCH_CREATE) == 1


def test_a_batch_create_retried_after_a_lost_answer_makes_no_second_note(fake_hubspot: FakeHubSpot) -> None:
    """The batch went through but its answer was lost (a 502 after HubSpot wrote it): before sending
    it again the adapter looks for the notes, and writes only those it does not find."""
    seed_team(fake_hubspot)
    ids = _deals(fake_hubspot, 3)
    crm = fast_adapter(fake_hubspot)
    crm.add_notes([NoteDraft(ids[0], "Early", AT, "early0")])  # made by the try whose answer was lost
    fake_hubspot.fail_next(1, status=502, path_contains=NOTE_BATCH_CREATE)
    fake_hubspot.reset_requests()
    drafts = [NoteDraft(ids[0], "Early", AT, "early0")]
    drafts += [NoteDraft(deal_id, f"Late {i}", AT, f"late{i}") for i, deal_id in enumerate(ids[1:])]
    result = crm.add_notes(drafts)
    assert sorted(result.done) == ["early0", "late0", "late1"]
    assert fake_hubspot.request_count(path_contains="/notes/search") == 1
    assert fake_hubspot.requests[-1].body["inputs"][0]["properties"]["hs_note_body"].startswith("Late 0")
    assert len(fake_hubspot.requests[-1].body["inputs"]) == 2
    assert len(_notes_with(fake_hubspot, "Early")) == 1


# --- the outbox worker ---


def _enqueue(
    sessions: Any, clock: SettableClock, deal_id: str, changes: dict[str, str], note: str | None, who: str
) -> None:
    with sessions.begin() as session:
        enqueue(session, ChangeRequest(deal_id, "Deal", changes, {}, note, who, "slash"), now=clock())


def test_a_claim_is_one_batch_update_and_one_batch_of_notes_and_the_mirror_takes_the_answer(
    sessions: Any, fake_hubspot: FakeHubSpot
) -> None:
    seed_team(fake_hubspot)
    ids = _deals(fake_hubspot, 30)
    crm = fast_adapter(fake_hubspot)
    clock = SettableClock()
    sync_mirror(crm, sessions, now=clock())
    for i, deal_id in enumerate(ids):
        stage = {"stage_id": "closedwon"} if i == 0 else {}
        _enqueue(
            sessions,
            clock,
            deal_id,
            {"amount": str(9000 + i), **stage},
            f"Call {i}" if i % 3 == 0 else None,
            f"U{i}",
        )
    told: list[Notice] = []
    fake_hubspot.reset_requests()
    worker = outbox_worker(Outbox(sessions, clock), crm, told.append, threads=1)
    assert worker.run_once() == 1  # one claim

    assert fake_hubspot.request_count(path_contains=DEAL_BATCH_UPDATE) == 1
    assert fake_hubspot.request_count(path_contains=NOTE_BATCH_CREATE) == 1
    assert len(fake_hubspot.requests) == 2  # no read after the write, no search on a first try
    assert sorted((n.kind, n.requested_by) for n in told) == sorted(("done", f"U{i}") for i in range(30))
    with sessions() as session:
        mirror = {d.id: d for d in session.scalars(select(MirrorDeal))}
    assert mirror[ids[5]].amount == Decimal(9005)
    assert (mirror[ids[0]].stage_id, mirror[ids[0]].is_closed, mirror[ids[0]].is_won) == (
        "closedwon",
        True,
        True,
    )
    assert mirror[ids[3]].last_activity_at is not None
    assert (
        mirror[ids[4]].last_modified_at.isoformat()[:19]
        == fake_hubspot.deals[ids[4]]["properties"]["hs_lastmodifieddate"][:19]
    )


def test_a_refused_value_tells_only_its_person_and_the_others_are_saved(
    sessions: Any, fake_hubspot: FakeHubSpot
) -> None:
    seed_team(fake_hubspot)
    ids = _deals(fake_hubspot, 5)
    crm = fast_adapter(fake_hubspot)
    clock = SettableClock()
    sync_mirror(crm, sessions, now=clock())
    for i, deal_id in enumerate(ids):
        changes = {"champion_name": "Bob"} if i == 2 else {"amount": str(100 + i)}
        _enqueue(sessions, clock, deal_id, changes, "Spoke to Bob" if i == 2 else None, f"U{i}")
    told: list[Notice] = []
    outbox_worker(Outbox(sessions, clock), crm, told.append, threads=1).run_once()
    by_person = {n.requested_by: n for n in told}
    assert by_person["U2"].kind == "rejected" and "champion_name" in (by_person["U2"].reason or "")
    assert all(by_person[f"U{i}"].kind == "done" and by_person[f"U{i}"].reason is None for i in (0, 1, 3, 4))
    assert len(told) == 5
    assert [fake_hubspot.deals[d]["properties"]["amount"] for d in ids] == ["100", "101", "100", "103", "104"]
    assert _notes_with(fake_hubspot, "Spoke to Bob") == []  # a refused update's note is not logged
    with sessions() as session:
        assert sorted(session.scalars(select(OutboxEntry.status))) == ["done"] * 4 + ["rejected"]


def test_one_unreadable_stored_change_fails_alone_and_the_rest_of_the_claim_lands(
    sessions: Any, fake_hubspot: FakeHubSpot
) -> None:
    """A claim is one unit of work: one entry whose stored value cannot be read (a bug, an old row)
    must not hold back the other updates of the claim."""
    seed_team(fake_hubspot)
    ids = _deals(fake_hubspot, 3)
    crm = fast_adapter(fake_hubspot)
    clock = SettableClock()
    sync_mirror(crm, sessions, now=clock())
    for i, deal_id in enumerate(ids):
        _enqueue(sessions, clock, deal_id, {"amount": str(300 + i)}, None, f"U{i}")
    with sessions.begin() as session:
        broken = session.scalars(select(OutboxEntry).where(OutboxEntry.deal_id == ids[1])).one()
        broken.changes = {"amount": "not a number"}
    told: list[Notice] = []
    outbox_worker(Outbox(sessions, clock), crm, told.append, threads=1).run_once()
    assert sorted(n.requested_by for n in told if n.kind == "done") == ["U0", "U2"]
    assert [fake_hubspot.deals[d]["properties"]["amount"] for d in (ids[0], ids[2])] == ["300", "302"]
    with sessions() as session:
        again = session.get(OutboxEntry, broken.id)
        assert again is not None and again.status == "pending" and again.attempts == 1  # retried later


def test_a_crash_between_the_batch_and_the_commit_writes_no_second_note(
    sessions: Any, fake_hubspot: FakeHubSpot
) -> None:
    """The worker sends its batch, HubSpot writes it, and the worker is killed before recording it.
    Its lease runs out; the next claim (a second attempt) looks for the notes first, in one search
    for up to five, and writes none of them again; everyone is told once."""
    seed_team(fake_hubspot)
    ids = _deals(fake_hubspot, 7)
    crm = fast_adapter(fake_hubspot)
    clock = SettableClock()
    sync_mirror(crm, sessions, now=clock())
    for i, deal_id in enumerate(ids):
        _enqueue(sessions, clock, deal_id, {"amount": str(700 + i)}, f"Crash note {i}", f"U{i}")
    outbox = Outbox(sessions, clock)
    claimed = outbox.claim("killed-worker", limit=100)
    assert len(claimed) == 7
    ApplyToCrm(outbox, crm, lambda notice: None).write([Write(e, dict(e.changes), []) for e in claimed])
    assert all(len(_notes_with(fake_hubspot, f"Crash note {i}")) == 1 for i in range(7))
    # ...SIGKILL: nothing recorded, no heartbeat. The lease runs out:
    clock.advance(seconds=31)
    fake_hubspot.reset_requests()
    told: list[Notice] = []
    assert outbox_worker(outbox, crm, told.append, threads=1).run_once() == 1
    assert all(len(_notes_with(fake_hubspot, f"Crash note {i}")) == 1 for i in range(7))
    assert fake_hubspot.request_count(path_contains="/notes/search") == 2  # 5 + 2 keys
    assert fake_hubspot.request_count(path_contains=NOTE_BATCH_CREATE) == 0
    assert sorted(n.requested_by for n in told if n.kind == "done") == [f"U{i}" for i in range(7)]
    with sessions() as session:
        assert set(session.scalars(select(OutboxEntry.status))) == {"done"}


def test_a_deal_the_mirror_lacks_is_read_once_for_the_whole_claim(
    sessions: Any, fake_hubspot: FakeHubSpot
) -> None:
    seed_team(fake_hubspot)
    crm = fast_adapter(fake_hubspot)
    clock = SettableClock()
    sync_mirror(crm, sessions, now=clock())
    ids = _deals(fake_hubspot, 3)  # created after the sync: not in the mirror yet
    for deal_id in ids:
        _enqueue(sessions, clock, deal_id, {"next_step": "Send MSA"}, None, "U0ALICE")
    told: list[Notice] = []
    fake_hubspot.reset_requests()
    outbox_worker(Outbox(sessions, clock), crm, told.append, threads=1).run_once()
    assert [n.kind for n in told] == ["done"] * 3
    assert fake_hubspot.request_count(path_contains="/deals/batch/read") == 1
    assert all(n.after is not None and n.after.name.startswith("Deal ") for n in told)


# --- the running app ---


def test_two_people_at_once_one_refused_value_only_its_person_hears_why(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    team = seed(fake_hubspot, fake_slack)
    app = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=SettableClock(), worker=False)
    try:
        alice, bruno = fake_slack.response_url(), fake_slack.response_url()
        app.slack.slash_command("acme corp amount=12k", user_id="U0ALICE", response_url=alice)
        app.slack.slash_command('acme logistics champion="Bob Ray"', user_id="U0BRUNO", response_url=bruno)
        app.runtime.commands.run_once()  # both queued before the outbox worker looks
        fake_hubspot.reset_requests()
        assert app.runtime.worker.run_once() == 1  # one claim: both in one batch
        assert fake_hubspot.request_count(method="GET") == 0
        said_to_alice = json.dumps(wait_until(lambda: fake_slack.responses(alice), what="alice told"))
        said_to_bruno = json.dumps(
            wait_until(
                lambda: [r for r in fake_slack.responses(bruno) if "champion_name" in json.dumps(r)],
                what="bruno told",
            )
        )
        assert "Saved" in said_to_alice and "champion_name" not in said_to_alice
        assert "Saved" not in said_to_bruno
        assert fake_hubspot.deals[team.acme]["properties"]["amount"] == "12000"
        assert [e.status for e in outbox_rows(app)] == ["done", "rejected"]
        assert [d for d, _ in deal_writes(fake_hubspot)].count(team.acme) >= 1
    finally:
        stop_app(app)


def test_notes_of_a_first_attempt_make_no_search_at_the_wire_of_the_running_app(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    team = seed(fake_hubspot, fake_slack)
    app = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=SettableClock())
    try:
        url = fake_slack.response_url()
        fake_hubspot.reset_requests()
        app.slack.slash_command('acme corp note "Budget approved"', user_id="U0ALICE", response_url=url)
        wait_until(lambda: any("Saved" in json.dumps(r) for r in fake_slack.responses(url)), what="saved")
        assert fake_hubspot.request_count(path_contains="/search") == 0
        assert fake_hubspot.request_count(method="GET") == 0
        (note,) = _notes_with(fake_hubspot, "Budget approved")
        assert note["associations"]["deals"] == [team.acme]
    finally:
        stop_app(app)


def test_a_claim_of_one_persons_updates_redraws_their_home_once_with_the_new_values(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    team = seed(fake_hubspot, fake_slack)
    app = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=SettableClock(), worker=False)
    try:
        urls = [fake_slack.response_url() for _ in range(3)]
        for text, url in zip(
            ("acme corp amount=31k", "umbrella amount=32k", "initech amount=33k"), urls, strict=True
        ):
            app.slack.slash_command(text, user_id="U0ALICE", response_url=url)
        app.runtime.commands.run_once()
        before = len([v for v in fake_slack.views if v.method == "views.publish"])
        assert app.runtime.worker.run_once() == 1
        published = [v for v in fake_slack.views if v.method == "views.publish"][before:]
        assert [v.user_id for v in published] == ["U0ALICE"]
        assert "33" in json.dumps(fake_slack.home_view("U0ALICE"))  # drawn after the last save
        assert all(any("Saved" in json.dumps(r) for r in fake_slack.responses(u)) for u in urls)
        assert fake_hubspot.deals[team.initech]["properties"]["amount"] == "33000"
    finally:
        stop_app(app)
