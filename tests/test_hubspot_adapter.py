"""The HubSpot adapter (hubspot-api-client underneath) against the fake HubSpot server's real wire format."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from integrations.base import CrmAuthError, CrmNotFound, CrmRejected, CrmUnavailable, DealUpdate
from integrations.hubspot import HubSpotCRM
from tests.fakes.hubspot import FakeHubSpot
from tests.hubspot_helpers import FakeTime, deal_properties, fast_adapter, seed_team


@pytest.fixture
def fake(fake_hubspot: FakeHubSpot) -> FakeHubSpot:
    seed_team(fake_hubspot)
    return fake_hubspot


def test_pipelines_turn_hubspot_strings_into_numbers_and_flags(fake: FakeHubSpot) -> None:
    (pipeline,) = fast_adapter(fake).fetch_pipelines()
    assert pipeline.id == "default"
    by_id = {s.id: s for s in pipeline.stages}
    assert by_id["qualifiedtobuy"].probability == 0.4
    assert not by_id["qualifiedtobuy"].is_closed
    assert by_id["closedwon"].is_closed
    assert by_id["closedwon"].is_won
    assert by_id["closedlost"].is_closed
    assert not by_id["closedlost"].is_won
    assert next(s.id for s in pipeline.stages) == "appointmentscheduled"


def test_owners_are_paged_through(fake: FakeHubSpot) -> None:
    for i in range(230):
        fake.add_owner(str(1000 + i), f"rep{i}@acme.example", "Rep", str(i))
    fake.reset_requests()
    owners = fast_adapter(fake).fetch_owners()
    assert len(owners) == 232
    assert fake.request_count(path_contains="/crm/v3/owners") == 3  # 100 + 100 + 32


def test_deals_come_back_parsed_in_pages(fake: FakeHubSpot) -> None:
    ids = fake.add_deals_bulk(450, deal_properties)
    pages = list(fast_adapter(fake).iter_deals())
    assert [len(p.deals) for p in pages] == [200, 200, 50]
    assert pages[0].total == 450
    deals = {d.id: d for p in pages for d in p.deals}
    assert set(deals) == set(ids)
    first = deals[ids[1]]
    assert first.name == "Deal 1"
    assert first.amount == Decimal("1001")
    assert first.close_date == date(2026, 12, 15)
    assert first.owner_id == "101"
    assert deals[ids[10]].amount is None
    assert deals[ids[4]].is_closed
    assert deals[ids[4]].is_won


def test_more_than_10000_search_results_are_all_read(fake: FakeHubSpot) -> None:
    ids = fake.add_deals_bulk(10_450, deal_properties)
    seen = [d.id for page in fast_adapter(fake).iter_deals() for d in page.deals]
    assert len(seen) == len(set(seen)) == 10_450
    assert set(seen) == set(ids)


def test_a_429_with_retry_after_waits_that_long_then_succeeds(fake: FakeHubSpot) -> None:
    time = FakeTime()
    fake.fail_next(2, status=429, retry_after="3")
    owners = fast_adapter(fake, time).fetch_owners()
    assert len(owners) == 2
    assert time.calls == [3.0, 3.0]


def test_a_429_without_retry_after_backs_off_exponentially(fake: FakeHubSpot) -> None:
    time = FakeTime()
    fake.fail_next(3, status=429)
    fast_adapter(fake, time).fetch_pipelines()
    backoffs = time.calls
    assert len(backoffs) == 3
    assert 0.25 <= backoffs[0] <= 0.5
    assert 0.5 <= backoffs[1] <= 1.0
    assert 1.0 <= backoffs[2] <= 2.0


def test_a_patch_is_retried_after_a_gateway_error(fake: FakeHubSpot) -> None:
    deal_id = fake.add_deal(**deal_properties(1))
    fake.fail_next(1, status=502, method="PATCH")
    updated = fast_adapter(fake).update_deal(
        deal_id, DealUpdate(stage_id="contractsent", amount=Decimal("12000"), close_date=date(2027, 1, 31))
    )
    assert updated.stage_id == "contractsent"
    assert updated.amount == Decimal("12000")
    assert updated.close_date == date(2027, 1, 31)
    assert fake.request_count(method="PATCH") == 2
    assert fake.deals[deal_id]["properties"]["dealstage"] == "contractsent"


def test_a_lasting_outage_becomes_crm_unavailable(fake: FakeHubSpot) -> None:
    fake.fail_next(10, status=503)
    fake.reset_requests()
    with pytest.raises(CrmUnavailable, match=r"server error \(503\) after 4 attempts"):
        fast_adapter(fake).fetch_pipelines()
    assert fake.request_count() == 4


def test_a_rejected_token_is_explained_and_not_retried(fake: FakeHubSpot) -> None:
    fake.revoke_token()
    fake.reset_requests()
    with pytest.raises(CrmAuthError, match="HubSpot rejected the access token"):
        fast_adapter(fake).check_access()
    assert fake.request_count() == 1


def test_a_missing_scope_is_named(fake: FakeHubSpot) -> None:
    fake.remove_scope("crm.objects.deals.read")
    with pytest.raises(CrmAuthError, match=r"missing scope crm\.objects\.deals\.read"):
        list(fast_adapter(fake).iter_deals())


def test_an_invalid_value_is_rejected_with_hubspots_reason(fake: FakeHubSpot) -> None:
    deal_id = fake.add_deal(**deal_properties(1))
    with pytest.raises(CrmRejected, match="was not one of the allowed options"):
        fast_adapter(fake).update_deal(deal_id, DealUpdate(stage_id="no-such-stage"))
    assert fake.deals[deal_id]["properties"]["dealstage"] == "qualifiedtobuy"


def test_an_unknown_deal_is_not_found(fake: FakeHubSpot) -> None:
    with pytest.raises(CrmNotFound):
        fast_adapter(fake).get_deal("99999999999")


def test_notes_are_logged_once_per_key_and_roll_up_as_activity(fake: FakeHubSpot) -> None:
    deal_id = fake.add_deal(**deal_properties(1))
    crm = fast_adapter(fake)
    at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    first = crm.add_note(deal_id, "Still on track", timestamp=at, idempotency_key="a1b2c3d4")
    second = crm.add_note(deal_id, "Still on track", timestamp=at, idempotency_key="a1b2c3d4")
    assert first.id == second.id
    notes = [n for n in fake.notes.values() if "a1b2c3d4" in n["properties"]["hs_note_body"]]
    assert len(notes) == 1
    assert crm.get_deal(deal_id).last_activity_at == at


def test_the_client_side_limiter_keeps_search_under_hubspots_rate(fake_hubspot: FakeHubSpot) -> None:
    # Real clock, real sleep: 9 search pages at the real 5/s limit, enforced by the fake.
    strict = FakeHubSpot(token=fake_hubspot.token, enforce_search_rate=True).start()
    try:
        seed_team(strict)
        strict.add_deals_bulk(1_700, deal_properties)
        crm = HubSpotCRM(strict.token, base_url=strict.url)
        assert sum(len(p.deals) for p in crm.iter_deals()) == 1_700
        assert [r for r in strict.requests if r.path.endswith("/search")]
        assert strict.request_count() == 9
    finally:
        strict.stop()


def test_the_ten_second_budget_paces_requests_instead_of_meeting_429s(fake: FakeHubSpot) -> None:
    time = FakeTime()
    for i in range(950):
        fake.add_owner(str(5000 + i), f"o{i}@acme.example", "O", str(i))
    fake.monotonic = time.monotonic  # the fake's window on the same clock
    crm = fast_adapter(fake, time, requests_per_10s=4)
    owners = crm.fetch_owners()  # 10 pages of 100 with a budget of 4 per 10 s
    assert len(owners) == 952
    # Pages 5 and 9 each wait for the window to free up: 10 s, and 5% for requests in flight.
    assert round(sum(time.calls), 6) == 21.0


def test_person_changes_come_from_property_history_not_from_apps(fake: FakeHubSpot) -> None:
    by_app, by_person, untouched = (fake.add_deal(**deal_properties(i)) for i in range(3))
    crm = fast_adapter(fake)
    crm.update_deal(by_app, DealUpdate(amount=Decimal("5")))
    fake.touch_deal(by_person, dealstage="contractsent")
    fake.reset_requests()
    changes = crm.person_changes([by_app, by_person, untouched])
    assert set(changes) == {by_person}
    assert (
        changes[by_person]
        .isoformat()
        .startswith(fake.deals[by_person]["properties"]["hs_lastmodifieddate"][:19])
    )
    assert fake.request_count(path_contains="/batch/read") == 1


def test_a_404_from_the_notes_search_is_a_fault_not_a_deleted_deal(fake: FakeHubSpot) -> None:
    deal_id = fake.add_deal(**deal_properties(1))
    fake.fail_next(10, status=404, path_contains="/notes/search")
    fake.reset_requests()
    at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    with pytest.raises(CrmUnavailable, match=r"not found \(404\) from the notes endpoint after 4 attempts"):
        fast_adapter(fake).add_note(deal_id, "Met the CFO", timestamp=at, idempotency_key="k404")
    assert fake.request_count(path_contains="/notes/search") == 4  # retried, like any fault
    assert not [n for n in fake.notes.values() if "k404" in n["properties"]["hs_note_body"]]


def test_a_404_from_the_deal_endpoints_still_means_deleted(fake: FakeHubSpot) -> None:
    deal_id = fake.add_deal(**deal_properties(1))
    fake.archive_deal(deal_id)
    fake.reset_requests()
    with pytest.raises(CrmNotFound):
        fast_adapter(fake).update_deal(deal_id, DealUpdate(amount=Decimal(5)))
    assert fake.request_count() == 1  # not retried
