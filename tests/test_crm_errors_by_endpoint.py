"""Issue 12, defect 5: a 404 means "deal deleted" only when a deal endpoint says so."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import stop_app
from tests.deal_scenario import SettableClock, outbox_rows, seed, start_drumbeat, wait_until
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack


def _flat(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


def test_a_404_from_the_notes_endpoint_queues_the_note_and_keeps_the_deal(
    engine: Any, database_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    seed(fake_hubspot, fake_slack)
    kestrel = fake_hubspot.add_deal(
        dealname="Kestrel", hubspot_owner_id="101", pipeline="default", dealstage="qualifiedtobuy"
    )
    clock = SettableClock()
    app = start_drumbeat(database_url, fake_slack, fake_hubspot, clock=clock)
    try:
        # One round of retries of the notes' batch create (a first attempt makes no search).
        fake_hubspot.fail_next(4, status=404, path_contains="/notes/batch/create")
        url = fake_slack.response_url()
        ack = app.slack.slash_command('kestrel note "Met the CFO"', user_id="U0ALICE", response_url=url)
        assert "Working on it" in ack.text
        queued = wait_until(
            lambda: [r for r in fake_slack.responses(url) if "queued" in _flat(r)], what="queued"
        )
        said = _flat(queued[0])
        assert "deleted" not in said and "no such" not in said
        assert [e.status for e in outbox_rows(app)] == ["pending"]

        # The deal is still in the mirror: a search still finds it.
        found = app.slack.slash_command("kestrel", user_id="U0ALICE", response_url=fake_slack.response_url())
        assert "Kestrel" in found.text and "No deal matches" not in found.text

        clock.advance(seconds=30)  # past the first backoff: looked for (none made), then written
        wait_until(lambda: any("Saved" in _flat(r) for r in fake_slack.responses(url)), what="saved")
        notes = [
            n
            for n in fake_hubspot.notes.values()
            if "Met the CFO" in n["properties"]["hs_note_body"] and kestrel in str(n)
        ]
        assert len(notes) == 1
        assert [e.status for e in outbox_rows(app)] == ["done"]
    finally:
        stop_app(app)
