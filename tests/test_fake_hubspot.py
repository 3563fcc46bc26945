"""Exercises tests/fakes/hubspot.py through the real hubspot-api-client and httpx."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm import deals as hs_deals
from hubspot.crm.objects import notes as hs_notes
from hubspot.crm.owners import ApiException as OwnersApiException

from tests.fakes.hubspot import (
    DEALS_WRITE,
    FakeHubSpot,
    RecordedRequest,
    format_instant,
    parse_instant,
)

FROZEN = datetime(2026, 11, 20, 9, 15, 2, tzinfo=UTC)


@pytest.fixture
def fake() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as server:
        server.add_default_pipeline()
        server.add_owner("111", "ada@example.com", "Ada", "Lovelace", user_id=9001)
        server.add_owner(
            "222",
            "grace@example.com",
            "Grace",
            "Hopper",
            teams=[{"id": "77", "name": "EMEA", "primary": True}],
        )
        yield server


@pytest.fixture
def client(fake: FakeHubSpot) -> HubSpot:
    return HubSpot(access_token=fake.token, host=fake.url)


@pytest.fixture
def http(fake: FakeHubSpot) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.url, headers={"Authorization": f"Bearer {fake.token}"}) as session:
        yield session


def _body(error: Exception) -> dict[str, Any]:
    raw = getattr(error, "body", None)
    assert isinstance(raw, str | bytes), error
    parsed: dict[str, Any] = json.loads(raw)
    return parsed


def _search(
    filters: list[dict[str, Any]] | None = None,
    **kwargs: Any,
) -> hs_deals.PublicObjectSearchRequest:
    groups = [hs_deals.FilterGroup(filters=[hs_deals.Filter(**f) for f in filters])] if filters else []
    return hs_deals.PublicObjectSearchRequest(filter_groups=groups, **kwargs)


# --------------------------------------------------------------------------- deals: list / get


def test_get_page_paginates_with_cursor_and_requested_properties(fake: FakeHubSpot, client: HubSpot) -> None:
    ids = fake.add_deals_bulk(
        250, lambda i: {"dealname": f"Deal {i}", "amount": str(i), "dealstage": "qualifiedtobuy"}
    )
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"limit": 100, "properties": ["dealname", "amount"]}
        if after:
            kwargs["after"] = after
        page = client.crm.deals.basic_api.get_page(**kwargs)
        pages += 1
        seen.extend(deal.id for deal in page.results)
        if page.paging is None:
            break
        after = page.paging.next.after
        assert page.paging.next.link.startswith(fake.url)
    assert pages == 3
    assert seen == ids
    first = client.crm.deals.basic_api.get_page(limit=1, properties=["dealname"]).results[0]
    assert set(first.properties) == {"dealname", "hs_object_id", "createdate", "hs_lastmodifieddate"}
    assert first.properties["hs_object_id"] == first.id
    # hubspot-api-client sends list params as repeated keys ("multi").
    last = fake.requests[-1]
    assert last.query["properties"] == ["dealname"]
    assert last.headers["authorization"] == f"Bearer {fake.token}"


def test_list_default_properties_and_limit_validation(fake: FakeHubSpot, http: httpx.Client) -> None:
    fake.add_deal(dealname="Acme", dealstage="appointmentscheduled")
    page = http.get("/crm/v3/objects/deals", params={"properties": "dealname,dealstage,notaproperty"}).json()
    assert set(page["results"][0]["properties"]) == {
        "dealname",
        "dealstage",
        "hs_object_id",
        "createdate",
        "hs_lastmodifieddate",
    }
    assert "paging" not in page
    defaults = http.get("/crm/v3/objects/deals").json()["results"][0]["properties"]
    assert defaults["amount"] is None
    assert defaults["pipeline"] == "default"

    response = http.get("/crm/v3/objects/deals", params={"limit": 101})
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == "VALIDATION_ERROR"
    assert response.headers["X-HubSpot-Correlation-Id"] == body["correlationId"]


def test_get_by_id_and_not_found(fake: FakeHubSpot, client: HubSpot) -> None:
    deal_id = fake.add_deal(dealname="Acme", dealstage="closedwon", amount="1200.50")
    deal = client.crm.deals.basic_api.get_by_id(
        deal_id, properties=["dealname", "hs_is_closed_won", "amount"]
    )
    assert deal.properties["hs_is_closed_won"] == "true"
    assert deal.properties["amount"] == "1200.50"
    assert deal.created_at.tzinfo is not None

    with pytest.raises(hs_deals.ApiException) as missing:
        client.crm.deals.basic_api.get_by_id("99999")
    assert missing.value.status == 404
    assert _body(missing.value)["category"] == "OBJECT_NOT_FOUND"

    fake.archive_deal(deal_id)
    with pytest.raises(hs_deals.ApiException) as archived:
        client.crm.deals.basic_api.get_by_id(deal_id)
    assert archived.value.status == 404
    assert client.crm.deals.basic_api.get_page().results == []
    assert client.crm.deals.basic_api.get_page(archived=True).results[0].id == deal_id


# --------------------------------------------------------------------------- deals: write


def test_update_recomputes_closed_flags_and_bumps_modified(fake: FakeHubSpot, client: HubSpot) -> None:
    deal_id = fake.add_deal(dealname="Acme", dealstage="contractsent")
    before = fake.deals[deal_id]["properties"]["hs_lastmodifieddate"]
    assert fake.deals[deal_id]["properties"]["hs_is_closed"] == "false"

    result = client.crm.deals.basic_api.update(
        deal_id,
        hs_deals.SimplePublicObjectInput(properties={"dealstage": "closedlost", "closedate": "2026-12-31"}),
    )
    assert result.properties["dealstage"] == "closedlost"
    assert result.properties["closedate"] == "2026-12-31T00:00:00Z"
    stored = fake.deals[deal_id]["properties"]
    assert (stored["hs_is_closed"], stored["hs_is_closed_won"]) == ("true", "false")
    assert parse_instant(stored["hs_lastmodifieddate"]) > parse_instant(before)  # type: ignore[operator]
    assert fake.deals[deal_id]["updatedAt"] == stored["hs_lastmodifieddate"]

    client.crm.deals.basic_api.update(
        deal_id, hs_deals.SimplePublicObjectInput(properties={"closedate": "1767139200000"})
    )
    assert fake.deals[deal_id]["properties"]["closedate"] == "2025-12-31T00:00:00Z"


@pytest.mark.parametrize(
    ("properties", "error", "name"),
    [
        ({"dealstage": "not-a-stage"}, "INVALID_OPTION", "dealstage"),
        ({"amount": "lots"}, "INVALID_LONG", "amount"),
        ({"closedate": "next tuesday"}, "INVALID_DATE", "closedate"),
        ({"hubspot_owner_id": "999"}, "INVALID_OPTION", "hubspot_owner_id"),
        ({"no_such_property": "x"}, "PROPERTY_DOESNT_EXIST", "no_such_property"),
        ({"hs_is_closed": "true"}, "READ_ONLY_VALUE", "hs_is_closed"),
    ],
)
def test_update_validation_errors(
    fake: FakeHubSpot, client: HubSpot, properties: dict[str, str], error: str, name: str
) -> None:
    deal_id = fake.add_deal(dealname="Acme", dealstage="qualifiedtobuy", amount="10")
    before = dict(fake.deals[deal_id]["properties"])
    with pytest.raises(hs_deals.ApiException) as caught:
        client.crm.deals.basic_api.update(deal_id, hs_deals.SimplePublicObjectInput(properties=properties))
    assert caught.value.status == 400
    body = _body(caught.value)
    assert body["category"] == "VALIDATION_ERROR"
    prefix = "Property values were not valid: "
    assert body["message"].startswith(prefix)
    details = json.loads(body["message"][len(prefix) :])
    assert details[0]["isValid"] is False
    assert (details[0]["error"], details[0]["name"]) == (error, name)
    assert fake.deals[deal_id]["properties"] == before


def test_stage_must_belong_to_pipeline(fake: FakeHubSpot, client: HubSpot) -> None:
    fake.add_pipeline("renewals", "Renewals", [("r-open", "Open", 0.5), ("r-won", "Won", 1.0, True)])
    deal_id = fake.add_deal(dealname="Acme", pipeline="renewals", dealstage="r-open")
    with pytest.raises(hs_deals.ApiException) as caught:
        client.crm.deals.basic_api.update(
            deal_id, hs_deals.SimplePublicObjectInput(properties={"dealstage": "closedwon"})
        )
    assert "closedwon was not one of the allowed options: [r-open, r-won]" in _body(caught.value)["message"]
    client.crm.deals.basic_api.update(
        deal_id, hs_deals.SimplePublicObjectInput(properties={"dealstage": "r-won"})
    )
    assert fake.deals[deal_id]["properties"]["hs_is_closed_won"] == "true"
    assert fake.deals[deal_id]["properties"]["hs_deal_stage_probability"] == "1.0"


def test_batch_read_and_update(fake: FakeHubSpot, client: HubSpot) -> None:
    first = fake.add_deal(dealname="One", dealstage="qualifiedtobuy")
    second = fake.add_deal(dealname="Two", dealstage="qualifiedtobuy")
    batch = client.crm.deals.batch_api.read(
        hs_deals.BatchReadInputSimplePublicObjectId(
            inputs=[hs_deals.SimplePublicObjectId(id=i) for i in (first, second, "424242")],
            properties=["dealname"],
            properties_with_history=[],
        )
    )
    assert isinstance(batch, hs_deals.BatchResponseSimplePublicObjectWithErrors)
    assert batch.status == "COMPLETE"
    assert batch.num_errors == 1
    assert batch.errors[0].context == {"ids": ["424242"]}
    assert sorted(d.properties["dealname"] for d in batch.results) == ["One", "Two"]

    updated = client.crm.deals.batch_api.update(
        hs_deals.BatchInputSimplePublicObjectBatchInput(
            inputs=[
                hs_deals.SimplePublicObjectBatchInput(id=first, properties={"dealstage": "closedwon"}),
                hs_deals.SimplePublicObjectBatchInput(id=second, properties={"amount": "5"}),
            ]
        )
    )
    assert isinstance(updated, hs_deals.BatchResponseSimplePublicObject)
    assert updated.started_at is not None
    assert updated.completed_at is not None
    assert fake.deals[first]["properties"]["hs_is_closed_won"] == "true"

    with pytest.raises(hs_deals.ApiException) as too_many:
        client.crm.deals.batch_api.update(
            hs_deals.BatchInputSimplePublicObjectBatchInput(
                inputs=[hs_deals.SimplePublicObjectBatchInput(id=first, properties={}) for _ in range(101)]
            )
        )
    assert too_many.value.status == 400


# --------------------------------------------------------------------------- search


def test_search_filters_sorts_and_pages(fake: FakeHubSpot, client: HubSpot) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    ids = fake.add_deals_bulk(
        30,
        lambda i: {
            "dealname": f"Widget order {i}" if i % 2 else f"Gadget order {i}",
            "amount": str(i * 100),
            "dealstage": "closedwon" if i % 3 == 0 else "qualifiedtobuy",
            "hs_lastmodifieddate": format_instant(base + timedelta(days=i)),
        },
    )
    cutoff_ms = str(int((base + timedelta(days=19, hours=12)).timestamp() * 1000))
    request = _search(
        [{"property_name": "hs_lastmodifieddate", "operator": "GT", "value": cutoff_ms}],
        sorts=[{"propertyName": "amount", "direction": "DESCENDING"}],
        properties=["dealname", "amount"],
        limit=4,
    )
    page = client.crm.deals.search_api.do_search(request)
    assert page.total == 10
    assert [d.properties["amount"] for d in page.results] == ["2900", "2800", "2700", "2600"]
    assert page.paging.next.after == "4"
    request.after = page.paging.next.after
    request.limit = 200
    rest = client.crm.deals.search_api.do_search(request)
    assert len(rest.results) == 6
    assert rest.paging is None

    iso_cutoff = (base + timedelta(days=19, hours=12)).isoformat()
    by_iso = client.crm.deals.search_api.do_search(
        _search([{"property_name": "hs_lastmodifieddate", "operator": "GT", "value": iso_cutoff}])
    )
    assert by_iso.total == 10

    won = client.crm.deals.search_api.do_search(
        _search(
            [
                {"property_name": "dealstage", "operator": "IN", "values": ["closedwon"]},
                {"property_name": "amount", "operator": "BETWEEN", "value": "300", "high_value": "1200"},
            ]
        )
    )
    assert sorted(int(d.properties["amount"]) for d in won.results) == [300, 600, 900, 1200]

    widgets = client.crm.deals.search_api.do_search(
        hs_deals.PublicObjectSearchRequest(query="WIDGET", limit=100, sorts=["-hs_object_id"])
    )
    assert widgets.total == 15
    assert [d.id for d in widgets.results] == [i for n, i in enumerate(ids) if n % 2][::-1]

    either = client.crm.deals.search_api.do_search(
        hs_deals.PublicObjectSearchRequest(
            filter_groups=[
                hs_deals.FilterGroup(
                    filters=[hs_deals.Filter(property_name="hs_object_id", operator="EQ", value=ids[0])]
                ),
                hs_deals.FilterGroup(
                    filters=[hs_deals.Filter(property_name="amount", operator="GTE", value="2900")]
                ),
            ]
        )
    )
    assert {d.id for d in either.results} == {ids[0], ids[29]}

    tokens = client.crm.deals.search_api.do_search(
        _search([{"property_name": "dealname", "operator": "CONTAINS_TOKEN", "value": "gadg*"}])
    )
    assert tokens.total == 15
    missing = client.crm.deals.search_api.do_search(
        _search([{"property_name": "closedate", "operator": "NOT_HAS_PROPERTY"}])
    )
    assert missing.total == 30


def test_search_request_limits(fake: FakeHubSpot, http: httpx.Client) -> None:
    one = {"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}]}
    cases: list[dict[str, Any]] = [
        {"filterGroups": [one] * 6},
        {"filterGroups": [{"filters": one["filters"] * 7}]},
        {"filterGroups": [{"filters": one["filters"] * 6}] * 3 + [one]},
        {"limit": 201},
        {"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "EQ", "value": "abc"}]}]},
        {"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "ALMOST"}]}]},
    ]
    for body in cases:
        response = http.post("/crm/v3/objects/deals/search", json=body)
        assert response.status_code == 400, body
        assert response.json()["category"] == "VALIDATION_ERROR"
    assert http.post("/crm/v3/objects/deals/search", json={"filterGroups": [one] * 3}).status_code == 200


def test_search_caps_at_ten_thousand_results(fake: FakeHubSpot, http: httpx.Client) -> None:
    started = time.perf_counter()
    fake.add_deals_bulk(25_000, lambda i: {"dealname": f"Deal {i}", "dealstage": "qualifiedtobuy"})
    assert time.perf_counter() - started < 3
    url = "/crm/v3/objects/deals/search"
    near_end = http.post(url, json={"limit": 100, "after": "9900"}).json()
    assert near_end["total"] == 25_000
    assert len(near_end["results"]) == 100
    assert near_end["paging"]["next"]["after"] == "10000"  # HubSpot still offers the cursor...
    beyond = http.post(url, json={"limit": 100, "after": near_end["paging"]["next"]["after"]})
    assert beyond.status_code == 400  # ...but refuses to serve it.
    assert beyond.json()["category"] == "VALIDATION_ERROR"
    assert http.post(url, json={"limit": 200, "after": "9900"}).status_code == 400
    assert "x-hubspot-ratelimit-max" not in {name.lower() for name in beyond.headers}


def test_search_rate_limit_is_secondly(fake: FakeHubSpot) -> None:
    with (
        FakeHubSpot(enforce_search_rate=True) as limited,
        httpx.Client(base_url=limited.url, headers={"Authorization": f"Bearer {limited.token}"}) as session,
    ):
        statuses = [session.post("/crm/v3/objects/deals/search", json={}).status_code for _ in range(6)]
        assert statuses == [200] * 5 + [429]
        body = session.post("/crm/v3/objects/deals/search", json={}).json()
        assert (body["errorType"], body["policyName"]) == ("RATE_LIMIT", "SECONDLY")
        assert body["message"] == "You have reached your secondly limit."
        assert session.get("/crm/v3/objects/deals").status_code == 200


# --------------------------------------------------------------------------- pipelines / owners


def test_pipelines_use_string_metadata(client: HubSpot) -> None:
    pipelines = client.crm.pipelines.pipelines_api.get_all("deals").results
    assert [p.id for p in pipelines] == ["default"]
    stages = {stage.id: stage for stage in pipelines[0].stages}
    assert stages["appointmentscheduled"].metadata == {"isClosed": "false", "probability": "0.2"}
    assert stages["closedwon"].metadata == {"isClosed": "true", "probability": "1.0"}
    assert stages["closedlost"].metadata == {"isClosed": "true", "probability": "0.0"}
    assert stages["closedwon"].write_permissions == "CRM_PERMISSIONS_ENFORCEMENT"
    assert [s.display_order for s in pipelines[0].stages] == list(range(7))


def test_owners_paging_and_email_filter(fake: FakeHubSpot, client: HubSpot) -> None:
    fake.add_owner("333", "gone@example.com", "Gone", "Away", archived=True)
    first = client.crm.owners.owners_api.get_page(limit=1)
    assert [o.email for o in first.results] == ["ada@example.com"]
    assert first.results[0].user_id == 9001
    assert first.results[0].type == "PERSON"
    second = client.crm.owners.owners_api.get_page(limit=1, after=first.paging.next.after)
    assert second.results[0].teams[0].name == "EMEA"
    assert second.paging is None
    by_email = client.crm.owners.owners_api.get_page(email="GRACE@example.com")
    assert [o.id for o in by_email.results] == ["222"]
    archived = client.crm.owners.owners_api.get_page(archived=True)
    assert [o.id for o in archived.results] == ["333"]
    with pytest.raises(OwnersApiException) as caught:
        client.crm.owners.owners_api.get_page(limit=501)
    assert caught.value.status == 400


# --------------------------------------------------------------------------- notes


def test_note_create_rolls_up_to_deal_and_is_searchable(fake: FakeHubSpot, client: HubSpot) -> None:
    deal_id = fake.add_deal(dealname="Acme", dealstage="qualifiedtobuy")
    other_id = fake.add_deal(dealname="Other", dealstage="qualifiedtobuy")
    modified_before = fake.deals[deal_id]["properties"]["hs_lastmodifieddate"]
    note = client.crm.objects.notes.basic_api.create(
        hs_notes.SimplePublicObjectInputForCreate(
            properties={
                "hs_note_body": "Discussed renewal pricing\n\n(Drumbeat ref dr-7f3a-0042)",
                "hs_timestamp": "2026-11-20T09:00:00.000Z",
            },
            associations=[
                hs_notes.PublicAssociationsForObject(
                    to=hs_notes.PublicObjectId(id=deal_id),
                    types=[
                        hs_notes.AssociationSpec(
                            association_category="HUBSPOT_DEFINED", association_type_id=214
                        )
                    ],
                )
            ],
        )
    )
    assert note.properties["hs_note_body"].startswith("Discussed renewal pricing")
    assert note.properties["hs_timestamp"] == "2026-11-20T09:00:00Z"
    assert fake.requests[-1].method == "POST"
    assert fake.notes[note.id]["associations"] == {"deals": [deal_id]}

    deal = fake.deals[deal_id]["properties"]
    assert deal["notes_last_updated"] == "2026-11-20T09:00:00Z"
    assert deal["num_notes"] == "1"
    assert parse_instant(deal["hs_lastmodifieddate"]) > parse_instant(modified_before)  # type: ignore[operator]
    assert fake.deals[other_id]["properties"].get("notes_last_updated") is None

    found = client.crm.objects.notes.search_api.do_search(
        hs_notes.PublicObjectSearchRequest(
            filter_groups=[
                hs_notes.FilterGroup(
                    filters=[
                        hs_notes.Filter(property_name="associations.deal", operator="EQ", value=deal_id),
                        hs_notes.Filter(
                            property_name="hs_note_body", operator="CONTAINS_TOKEN", value="dr-7f3a-0042"
                        ),
                    ]
                )
            ],
            properties=["hs_note_body"],
        )
    )
    assert [n.id for n in found.results] == [note.id]
    for value, hits in (("renew*", 1), ("DR-7F3A", 1), ("dr-0042", 0), ("pricing renewal", 0)):
        request = hs_notes.PublicObjectSearchRequest(
            filter_groups=[
                hs_notes.FilterGroup(
                    filters=[
                        hs_notes.Filter(property_name="hs_note_body", operator="CONTAINS_TOKEN", value=value)
                    ]
                )
            ]
        )
        assert client.crm.objects.notes.search_api.do_search(request).total == hits, value
    none = client.crm.objects.notes.search_api.do_search(
        hs_notes.PublicObjectSearchRequest(
            filter_groups=[
                hs_notes.FilterGroup(
                    filters=[
                        hs_notes.Filter(property_name="associations.deal", operator="EQ", value=other_id)
                    ]
                )
            ]
        )
    )
    assert none.total == 0

    with_assoc = client.crm.deals.basic_api.get_by_id(deal_id, associations=["notes"])
    assert with_assoc.associations["notes"].results[0].id == note.id


def test_note_create_validation(fake: FakeHubSpot, http: httpx.Client) -> None:
    deal_id = fake.add_deal(dealname="Acme")
    assoc = [
        {
            "to": {"id": deal_id},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}],
        }
    ]
    no_timestamp = http.post(
        "/crm/v3/objects/notes", json={"properties": {"hs_note_body": "x"}, "associations": assoc}
    )
    assert no_timestamp.status_code == 400
    bad_type = [
        {
            "to": {"id": deal_id},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}],
        }
    ]
    props = {"hs_note_body": "x", "hs_timestamp": "1700000000000"}
    assert (
        http.post("/crm/v3/objects/notes", json={"properties": props, "associations": bad_type}).status_code
        == 400
    )
    ghost = [{"to": {"id": "1"}, "types": assoc[0]["types"]}]
    assert (
        http.post("/crm/v3/objects/notes", json={"properties": props, "associations": ghost}).status_code
        == 400
    )
    created = http.post("/crm/v3/objects/notes", json={"properties": props, "associations": assoc})
    assert created.status_code == 201
    assert created.json()["properties"]["hs_timestamp"] == "2023-11-14T22:13:20Z"
    assert fake.notes == {created.json()["id"]: fake.notes[created.json()["id"]]}


# --------------------------------------------------------------------------- auth, scopes, failures


def test_authentication_errors(fake: FakeHubSpot, client: HubSpot) -> None:
    response = httpx.get(f"{fake.url}/crm/v3/objects/deals")
    assert response.status_code == 401
    body = response.json()
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found.")
    assert set(body) == {"status", "message", "correlationId", "category"}
    wrong = httpx.get(f"{fake.url}/crm/v3/objects/deals", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401

    client.crm.deals.basic_api.get_page()
    fake.revoke_token()
    with pytest.raises(hs_deals.ApiException) as caught:
        client.crm.deals.basic_api.get_page()
    assert caught.value.status == 401


def test_missing_scope_returns_403(fake: FakeHubSpot, client: HubSpot) -> None:
    deal_id = fake.add_deal(dealname="Acme", dealstage="qualifiedtobuy")
    fake.remove_scope(DEALS_WRITE)
    assert client.crm.deals.basic_api.get_by_id(deal_id).id == deal_id
    with pytest.raises(hs_deals.ApiException) as caught:
        client.crm.deals.basic_api.update(
            deal_id, hs_deals.SimplePublicObjectInput(properties={"dealname": "B"})
        )
    body = _body(caught.value)
    assert caught.value.status == 403
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == [DEALS_WRITE]


def test_fail_next_rate_limit_and_server_errors(fake: FakeHubSpot, http: httpx.Client) -> None:
    fake.fail_next(status=429, retry_after="2", path_contains="/search")
    fake.fail_next(2, status=502, method="GET")
    fake.fail_next(status=500, method="PATCH")

    search = http.post("/crm/v3/objects/deals/search", json={})
    assert search.status_code == 429
    assert search.headers["Retry-After"] == "2"
    assert search.json()["policyName"] == "SECONDLY"
    assert search.json()["errorType"] == "RATE_LIMIT"
    assert http.post("/crm/v3/objects/deals/search", json={}).status_code == 200

    for _ in range(2):
        gateway = http.get("/crm/v3/pipelines/deals")
        assert gateway.status_code == 502
        assert gateway.headers["Content-Type"].startswith("text/html")
    assert http.get("/crm/v3/pipelines/deals").status_code == 200

    patch = http.patch("/crm/v3/objects/deals/1", json={"properties": {}})
    assert patch.status_code == 500
    assert patch.json()["status"] == "error"

    fake.fail_next(status=429)
    burst = http.get("/crm/v3/owners")
    assert burst.status_code == 429
    assert "Retry-After" not in burst.headers
    assert burst.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert burst.headers["X-HubSpot-RateLimit-Remaining"] == "0"


def test_sdk_and_injected_429(fake: FakeHubSpot, client: HubSpot) -> None:
    fake.fail_next(status=429)
    with pytest.raises(hs_deals.ApiException) as caught:
        client.crm.deals.basic_api.get_page()
    assert caught.value.status == 429
    assert _body(caught.value)["errorType"] == "RATE_LIMIT"

    # urllib3's default Retry honours Retry-After on 429/503, so the SDK silently retries.
    fake.reset_requests()
    fake.fail_next(status=429, retry_after="0")
    assert client.crm.deals.basic_api.get_page().results == []
    assert fake.request_count(method="GET") == 2


def test_headers_unknown_paths_and_bad_json(fake: FakeHubSpot, http: httpx.Client) -> None:
    listed = http.get("/crm/v3/objects/deals")
    for name in ("Max", "Remaining", "Interval-Milliseconds", "Daily", "Daily-Remaining"):
        assert f"X-HubSpot-RateLimit-{name}" in listed.headers
    assert int(listed.headers["X-HubSpot-RateLimit-Remaining"]) < int(
        listed.headers["X-HubSpot-RateLimit-Max"]
    )

    unknown = http.get("/crm/v3/objects/widgets/1")
    assert unknown.status_code == 404
    assert unknown.json()["status"] == "error"

    bad = http.post(
        "/crm/v3/objects/deals/search", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert bad.status_code == 400
    assert bad.json()["message"].startswith("Invalid input JSON")


# --------------------------------------------------------------------------- clock, latency, recording


def test_clock_is_settable_and_writes_strictly_increase(fake: FakeHubSpot) -> None:
    fake.clock = lambda: FROZEN
    first = fake.add_deal(dealname="A")
    second = fake.add_deal(dealname="B")
    assert fake.deals[first]["properties"]["hs_lastmodifieddate"] == "2026-11-20T09:15:02Z"
    assert fake.deals[second]["properties"]["hs_lastmodifieddate"] == "2026-11-20T09:15:02.001Z"
    fake.touch_deal(first, dealname="A2")
    assert fake.deals[first]["properties"]["hs_lastmodifieddate"] == "2026-11-20T09:15:02.002Z"
    assert fake.deals[first]["createdAt"] == "2026-11-20T09:15:02Z"
    backdated = fake.add_deal(dealname="Old", createdate="2024-01-01", hs_lastmodifieddate="1704067200000")
    assert fake.deals[backdated]["properties"]["hs_lastmodifieddate"] == "2024-01-01T00:00:00Z"
    assert format_instant(datetime(2026, 1, 2, 3, 4, 5, 120000)) == "2026-01-02T03:04:05.120Z"


def test_latency_and_recording(fake: FakeHubSpot, client: HubSpot) -> None:
    fake.reset_requests()
    fake.latency = 0.2
    started = time.perf_counter()
    client.crm.deals.search_api.do_search(_search(limit=1))
    assert time.perf_counter() - started >= 0.2
    fake.latency = 0
    client.crm.deals.basic_api.get_page()
    assert fake.request_count() == 2
    assert fake.request_count(method="post", path_contains="/search") == 1
    recorded = fake.requests[0]
    assert isinstance(recorded, RecordedRequest)
    assert recorded.body == {"filterGroups": [], "limit": 1}
    assert recorded.headers["content-type"] == "application/json"
    fake.reset_requests()
    assert fake.request_count() == 0
