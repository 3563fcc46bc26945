"""POST /hubspot/webhooks through real HTTP into the running app (waitress), with the fake HubSpot
behind the real adapter: signature v3, the 5-minute window, and the deals re-read from the CRM."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from bot.hubspot_webhooks import (
    MalformedEvents,
    deal_ids_from,
    request_uris,
    signature_matches,
    signature_v3,
    timestamp_fresh,
)
from core.mirror.refresher import DealRefresher
from core.mirror.sync import refresh_deals, sync_mirror
from core.models import DealHistory, MirrorDeal, MirrorStage
from integrations.demo import DemoCRM
from integrations.demo_seed import seed_demo_crm
from rituals.config import parse_rituals_text
from tests.conftest import RunningApp, make_settings, start_app, stop_app
from tests.fakes.hubspot import FakeHubSpot, Stage
from tests.fakes.slack import FakeSlack
from tests.hubspot_helpers import fast_adapter, seed_team

SECRET = "a1b2c3d4-client-secret-of-the-app"


# --- a sender that signs like HubSpot, computed here independently of bot.hubspot_webhooks ---


def hubspot_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    source = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def post_webhook(
    app: RunningApp,
    events: Any,
    *,
    secret: str = SECRET,
    age: timedelta = timedelta(0),
    raw: bytes | None = None,
    signature: str | None = None,
) -> httpx.Response:
    url = f"{app.url}/hubspot/webhooks"
    body = raw if raw is not None else json.dumps(events).encode()
    timestamp = str(int((time.time() - age.total_seconds()) * 1000))
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Request-Timestamp": timestamp,
        "X-HubSpot-Signature-v3": signature or hubspot_signature(secret, "POST", url, body, timestamp),
    }
    return httpx.post(url, content=body, headers=headers, timeout=10)


def event(deal_id: str, kind: str = "deal.propertyChange", **extra: Any) -> dict[str, Any]:
    return {
        "eventId": 100 + int(deal_id) % 1000,
        "subscriptionId": 7,
        "portalId": FakeHubSpot.portal_id,
        "appId": 42,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": kind,
        "attemptNumber": 0,
        "objectId": int(deal_id),
        "changeSource": "CRM_UI",
        **extra,
    }


def batch_reads(fake: FakeHubSpot) -> list[list[str]]:
    """The ids of each deal batch read (not the property-history reads of person changes)."""
    return [
        [str(i["id"]) for i in request.body["inputs"]]
        for request in fake.requests
        if "/deals/batch/read" in request.path and not request.body.get("propertiesWithHistory")
    ]


def mirrored(app: RunningApp, deal_id: str) -> MirrorDeal | None:
    with app.services.sessions() as session:
        return session.get(MirrorDeal, deal_id)


@pytest.fixture
def crm_fake(fake_hubspot: FakeHubSpot) -> FakeHubSpot:
    seed_team(fake_hubspot)
    return fake_hubspot


@pytest.fixture
def hooked_app(
    engine: Engine, database_url: str, fake_slack: FakeSlack, crm_fake: FakeHubSpot
) -> Iterator[tuple[RunningApp, threading.Event]]:
    """An app with HUBSPOT_WEBHOOK_SECRET set, its mirror synced once; the event is set after each refresh."""
    settings = make_settings(database_url, fake_slack, crm_fake, hubspot_webhook_secret=SECRET)
    app = start_app(settings, crm=fast_adapter(crm_fake))
    refreshed = threading.Event()
    assert app.runtime.refresher is not None
    app.runtime.refresher.on_refreshed = refreshed.set
    try:
        yield app, refreshed
    finally:
        stop_app(app)


def first_sync(app: RunningApp) -> None:
    sync_mirror(app.services.crm, app.services.sessions, now=datetime.now(UTC))


# --- through HTTP ---


def test_a_signed_webhook_brings_hubspots_state_not_the_payloads(
    hooked_app: tuple[RunningApp, threading.Event], crm_fake: FakeHubSpot
) -> None:
    app, refreshed = hooked_app
    deal_id = crm_fake.add_deal(dealname="Acme", dealstage="contractsent", amount="30000")
    first_sync(app)
    crm_fake.touch_deal(deal_id, dealstage="closedwon")
    crm_fake.reset_requests()

    # The payload says closedlost: the mirror must take what HubSpot says when asked (closedwon).
    change = event(deal_id, propertyName="dealstage", propertyValue="closedlost")
    response = post_webhook(app, [change])

    assert response.status_code == 200
    assert refreshed.wait(10)
    deal = mirrored(app, deal_id)
    assert deal is not None
    assert (deal.stage_id, deal.is_won) == ("closedwon", True)
    assert batch_reads(crm_fake) == [[deal_id]]
    with app.services.sessions() as session:
        query = select(DealHistory.stage_id).where(DealHistory.deal_id == deal_id)
        stages = session.scalars(query.order_by(DealHistory.valid_from)).all()
    assert stages == ["contractsent", "closedwon"]  # the change is in the history, as a sync records it


@pytest.mark.parametrize(
    "forgery",
    [
        {"signature": base64.b64encode(b"\0" * 32).decode()},
        {"secret": "not-the-client-secret"},
        {"age": timedelta(minutes=6)},  # correctly signed, but 6 minutes old
        {"age": timedelta(minutes=-6)},
    ],
    ids=["wrong-signature", "wrong-secret", "stale-timestamp", "future-timestamp"],
)
def test_forged_or_stale_webhooks_get_401_and_read_nothing(
    hooked_app: tuple[RunningApp, threading.Event], crm_fake: FakeHubSpot, forgery: dict[str, Any]
) -> None:
    app, refreshed = hooked_app
    deal_id = crm_fake.add_deal(dealname="Acme", dealstage="contractsent")
    first_sync(app)
    crm_fake.reset_requests()

    response = post_webhook(app, [event(deal_id)], **forgery)

    assert response.status_code == 401
    assert not refreshed.wait(1.5)
    assert crm_fake.requests == []
    assert app.runtime.refresher is not None and app.runtime.refresher.pending == 0


def test_an_unsigned_webhook_gets_401(hooked_app: tuple[RunningApp, threading.Event]) -> None:
    app, _ = hooked_app
    response = httpx.post(f"{app.url}/hubspot/webhooks", content=b"[]", timeout=10)
    assert response.status_code == 401


def test_without_the_secret_the_path_does_not_exist(running_app: RunningApp) -> None:
    unknown = httpx.post(f"{running_app.url}/nowhere", content=b"[]", timeout=10)
    webhook = httpx.post(f"{running_app.url}/hubspot/webhooks", content=b"[]", timeout=10)
    assert running_app.runtime.refresher is None
    assert (webhook.status_code, webhook.text) == (unknown.status_code, unknown.text) == (404, "Not Found")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[{not json", "the body is not valid JSON"),
        (b'{"objectId": 1}', "the body must be a JSON array of events"),
        (b"\xff\xfe", "the body is not valid JSON"),
    ],
)
def test_a_malformed_body_gets_400_with_a_clear_message(
    hooked_app: tuple[RunningApp, threading.Event], raw: bytes, message: str
) -> None:
    app, _ = hooked_app
    response = post_webhook(app, None, raw=raw)
    assert response.status_code == 400
    assert message in response.text
    assert "Traceback" not in response.text


def test_duplicates_and_out_of_order_events_read_each_deal_once_and_end_right(
    hooked_app: tuple[RunningApp, threading.Event], crm_fake: FakeHubSpot
) -> None:
    app, refreshed = hooked_app
    one = crm_fake.add_deal(dealname="One", dealstage="qualifiedtobuy", amount="1000")
    two = crm_fake.add_deal(dealname="Two", dealstage="qualifiedtobuy", amount="2000")
    first_sync(app)
    crm_fake.touch_deal(one, amount="1500")
    crm_fake.touch_deal(one, amount="1800")
    crm_fake.touch_deal(two, dealstage="contractsent")
    crm_fake.reset_requests()
    now = int(time.time() * 1000)
    # Newest first, each deal twice, a contact event in between; in two requests of one burst.
    newer = [event(one, propertyName="amount", propertyValue="1800", occurredAt=now)]
    older = [
        event(two, propertyName="dealstage", propertyValue="contractsent", occurredAt=now - 5),
        {"subscriptionType": "contact.creation", "objectId": 999, "occurredAt": now},
        event(one, propertyName="amount", propertyValue="1500", occurredAt=now - 10),
        event(two, propertyName="dealstage", propertyValue="contractsent", occurredAt=now - 5),
    ]

    assert post_webhook(app, newer).status_code == 200
    assert post_webhook(app, older).status_code == 200

    assert refreshed.wait(10)
    time.sleep(1.0)  # a second refresh, had the burst been split, would show up here
    reads = batch_reads(crm_fake)
    assert len(reads) == 1
    assert sorted(reads[0]) == sorted([one, two])
    deal_one, deal_two = mirrored(app, one), mirrored(app, two)
    assert deal_one is not None and deal_two is not None
    assert deal_one.amount == 1800
    assert deal_two.stage_id == "contractsent"


def test_a_deal_deleted_in_hubspot_leaves_the_mirror(
    hooked_app: tuple[RunningApp, threading.Event], crm_fake: FakeHubSpot
) -> None:
    app, refreshed = hooked_app
    kept = crm_fake.add_deal(dealname="Kept", dealstage="qualifiedtobuy")
    gone = crm_fake.add_deal(dealname="Gone", dealstage="qualifiedtobuy")
    first_sync(app)
    crm_fake.archive_deal(gone)

    response = post_webhook(app, [event(gone, "deal.deletion"), event(kept, "deal.propertyChange")])

    assert response.status_code == 200
    assert refreshed.wait(10)
    assert mirrored(app, gone) is None
    assert mirrored(app, kept) is not None


def test_a_crm_outage_during_the_refresh_is_survived_and_the_webhook_still_gets_2xx(
    hooked_app: tuple[RunningApp, threading.Event], crm_fake: FakeHubSpot, caplog: pytest.LogCaptureFixture
) -> None:
    app, refreshed = hooked_app
    deal_id = crm_fake.add_deal(dealname="Acme", dealstage="qualifiedtobuy")
    first_sync(app)
    crm_fake.touch_deal(deal_id, dealstage="contractsent")
    crm_fake.reset_requests()
    crm_fake.fail_next(4, status=503, path_contains="/batch/read")  # every attempt the adapter makes

    response = post_webhook(app, [event(deal_id)])

    assert response.status_code == 200
    deadline = time.monotonic() + 10
    while crm_fake.request_count(path_contains="/batch/read") < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert crm_fake.request_count(path_contains="/batch/read") == 4
    assert not refreshed.wait(1.0)
    deal = mirrored(app, deal_id)
    assert deal is not None and deal.stage_id == "qualifiedtobuy"
    assert any("the next sync will read them" in r.getMessage() for r in caplog.records)

    # HubSpot is back: the refresher is still running, and the next webhook goes through.
    assert post_webhook(app, [event(deal_id)]).status_code == 200
    assert refreshed.wait(10)
    deal = mirrored(app, deal_id)
    assert deal is not None and deal.stage_id == "contractsent"


def test_webhook_metrics_count_outcomes(hooked_app: tuple[RunningApp, threading.Event]) -> None:
    app, _ = hooked_app
    post_webhook(app, [])
    post_webhook(app, [], secret="wrong")
    text = httpx.get(f"{app.url}/metrics").text
    assert 'drumbeat_hubspot_webhooks_total{outcome="accepted"} 1.0' in text
    assert 'drumbeat_hubspot_webhooks_total{outcome="bad_signature"} 1.0' in text
    assert SECRET not in text


# --- refresh_deals and the refresher, without HTTP ---


def test_refresh_reads_lookups_again_when_a_deal_names_an_unknown_stage(
    sessions: Any, crm_fake: FakeHubSpot
) -> None:
    crm = fast_adapter(crm_fake)
    deal_id = crm_fake.add_deal(dealname="Acme", dealstage="qualifiedtobuy")
    sync_mirror(crm, sessions, now=datetime.now(UTC))
    crm_fake.add_pipeline("renewals", "Renewals", [Stage("renewal-open", "Open", 0.5)])
    crm_fake.touch_deal(deal_id, pipeline="renewals", dealstage="renewal-open")

    result = refresh_deals(crm, sessions, [deal_id, deal_id, "424242"], now=datetime.now(UTC))

    assert (result.deals_read, result.changed, result.removed) == (1, (deal_id,), ())
    assert result.lookups_refreshed
    with sessions() as session:
        assert session.get(MirrorStage, ("renewals", "renewal-open")) is not None
        deal = session.get(MirrorDeal, deal_id)
        assert deal is not None and deal.stage_id == "renewal-open"


def test_refresh_before_the_first_sync_leaves_the_mirror_to_it(sessions: Any, crm_fake: FakeHubSpot) -> None:
    deal_id = crm_fake.add_deal(dealname="Acme", dealstage="qualifiedtobuy")
    result = refresh_deals(fast_adapter(crm_fake), sessions, [deal_id], now=datetime.now(UTC))
    assert result.skipped
    assert crm_fake.request_count(path_contains="/batch/read") == 0
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(MirrorDeal)) == 0


def test_the_demo_crm_reads_named_deals_from_its_tables(sessions: Any) -> None:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with sessions.begin() as session:
        seed_demo_crm(session, now)
    crm = DemoCRM(sessions, clock=lambda: now)
    first, second = (d.id for d in next(iter(crm.iter_deals())).deals[:2])
    deals = crm.get_deals([second, first, second, "999999", "not-an-id"])
    assert sorted(d.id for d in deals) == sorted([first, second])
    assert crm.get_deals([]) == []


def test_the_refresher_stops_cleanly_and_leaves_pending_ids_to_the_sync(
    sessions: Any, crm_fake: FakeHubSpot
) -> None:
    refresher = DealRefresher(fast_adapter(crm_fake), sessions, clock=lambda: datetime.now(UTC), settle=30)
    refresher.start()
    refresher.submit(["1", "2", "1"])
    assert refresher.pending == 2
    started = time.monotonic()
    refresher.stop()
    assert time.monotonic() - started < 5
    assert crm_fake.requests == []


# --- the signature and the events, as functions ---


def test_signature_v3_matches_an_independently_computed_vector() -> None:
    uri = "https://bot.acme.example/hubspot/webhooks"
    body = b'[{"objectId":1246965,"subscriptionType":"deal.propertyChange"}]'
    timestamp = "1700000000000"
    expected = hubspot_signature(SECRET, "POST", uri, body, timestamp)
    assert signature_v3(SECRET, method="POST", uri=uri, body=body, timestamp=timestamp) == expected
    assert signature_matches(
        SECRET, method="POST", uris=[uri], body=body, timestamp=timestamp, signature=expected
    )
    for wrong in ("", expected[:-2] + "==", hubspot_signature("other", "POST", uri, body, timestamp)):
        assert not signature_matches(
            SECRET, method="POST", uris=[uri], body=body, timestamp=timestamp, signature=wrong
        )
    # Any change to the body, the URI or the timestamp breaks it.
    assert not signature_matches(
        SECRET, method="POST", uris=[uri], body=body + b" ", timestamp=timestamp, signature=expected
    )
    assert not signature_matches(
        SECRET, method="POST", uris=[uri + "x"], body=body, timestamp=timestamp, signature=expected
    )
    assert not signature_matches(
        SECRET, method="POST", uris=[uri], body=body, timestamp="1700000000001", signature=expected
    )


def test_the_timestamp_window_is_five_minutes_in_milliseconds() -> None:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    ms = int(now.timestamp() * 1000)
    assert timestamp_fresh(str(ms), now)
    assert timestamp_fresh(str(ms - 299_000), now)
    assert not timestamp_fresh(str(ms - 301_000), now)
    assert not timestamp_fresh(str(ms // 1000), now)  # seconds, not milliseconds: 1970
    assert not timestamp_fresh("", now)
    assert not timestamp_fresh("12e5", now)
    assert not timestamp_fresh("9" * 40, now)


def test_the_uri_is_the_one_hubspot_called_also_behind_a_tls_proxy() -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "REQUEST_URI": "/hubspot/webhooks?portal=1%3A2%2Cx%20y",
        "PATH_INFO": "/hubspot/webhooks",
        "QUERY_STRING": "portal=1%3A2%2Cx%20y",
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "10.0.0.5",
        "SERVER_PORT": "8080",
    }
    headers = {"host": "bot.acme.example", "x-forwarded-proto": "https"}
    assert request_uris(environ, headers) == [  # type: ignore[arg-type]
        "http://bot.acme.example/hubspot/webhooks?portal=1:2,x%20y",
        "https://bot.acme.example/hubspot/webhooks?portal=1:2,x%20y",
    ]
    # No Host header: the server's own name and port.
    assert request_uris(environ, {}) == ["http://10.0.0.5:8080/hubspot/webhooks?portal=1:2,x%20y"]  # type: ignore[arg-type]


def test_deal_ids_come_from_deal_and_generic_deal_events_only() -> None:
    body = json.dumps(
        [
            {"subscriptionType": "deal.propertyChange", "objectId": 11, "propertyValue": "closedwon"},
            {"subscriptionType": "deal.creation", "objectId": "12"},
            {"subscriptionType": "deal.propertyChange", "objectId": 11},
            {"subscriptionType": "object.propertyChange", "objectTypeId": "0-3", "objectId": 13},
            {"subscriptionType": "object.propertyChange", "objectTypeId": "0-1", "objectId": 14},
            {"subscriptionType": "contact.propertyChange", "objectId": 15},
            {"subscriptionType": "deal.associationChange", "fromObjectId": 16, "toObjectId": 17},
            {
                "subscriptionType": "deal.merge",
                "objectId": 18,
                "newObjectId": 18,
                "mergedObjectIds": [19, 20],
            },
            {"subscriptionType": "deal.deletion", "objectId": True},
            "not an event",
        ]
    ).encode()
    events = deal_ids_from(body)
    assert events.deal_ids == ["11", "12", "13", "18", "19", "20"]
    assert (events.total, events.ignored) == (10, 5)
    assert deal_ids_from(b"[]").deal_ids == []
    with pytest.raises(MalformedEvents):
        deal_ids_from(b"null")


WINS_ALERT = """
rituals:
  - id: big-wins
    kind: deal_alert
    when: {stage_becomes: closedwon, amount_at_least: 20000}
    post_to: "#wins"
"""


def test_a_win_seen_by_a_webhook_then_by_the_poll_is_posted_once(
    engine: Engine, database_url: str, fake_slack: FakeSlack, crm_fake: FakeHubSpot
) -> None:
    fake_slack.add_channel("C0WINS", "wins")
    settings = make_settings(database_url, fake_slack, crm_fake, hubspot_webhook_secret=SECRET)
    app = start_app(settings, rituals=parse_rituals_text(WINS_ALERT), crm=fast_adapter(crm_fake))
    try:
        deal_id = crm_fake.add_deal(
            dealname="Acme",
            dealstage="contractsent",
            amount="30000",
            hubspot_owner_id="101",
            pipeline="default",
        )
        first_sync(app)
        assert app.runtime.check_alerts().started_watching  # what serve's minute sync does first
        crm_fake.touch_deal(deal_id, dealstage="closedwon")

        assert (
            post_webhook(
                app, [event(deal_id, propertyName="dealstage", propertyValue="closedwon")]
            ).status_code
            == 200
        )
        deadline = time.monotonic() + 15
        while not fake_slack.messages_in("C0WINS") and time.monotonic() < deadline:
            time.sleep(0.05)
        (post,) = fake_slack.messages_in("C0WINS")
        assert "Acme" in json.dumps(post["blocks"]) and "is won!" in json.dumps(post["blocks"])

        # The minute's poll then reads the same change: nothing more is said.
        first_sync(app)
        app.runtime.check_alerts()
        assert app.runtime.alert_posts.run_once() == 0
        assert len(fake_slack.messages_in("C0WINS")) == 1
    finally:
        stop_app(app)
