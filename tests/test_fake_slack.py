"""Proves ``tests.fakes.slack.FakeSlack`` against the real ``slack_sdk.WebClient`` and
``tests.slack_signing.SlackRequests`` against slack_sdk's verifier and a real Bolt app."""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from slack_bolt import Ack, App, BoltRequest, Respond
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from tests.fakes.slack import FakeSlack
from tests.slack_signing import SentRequest, SlackRequests, sign

SIGNING_SECRET = "test-signing-secret"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.add_user("U1ANA", "ana@example.com", "Ana Lima")
        fake.add_user("U2BEN", "ben@example.com", "Ben Okafor", "America/New_York")
        fake.add_channel("C0GENERAL", "general")
        fake.add_channel("C0OUTSIDE", "outside", bot_is_member=False)
        fake.add_channel("G0SECRET", "secret", is_private=True, bot_is_member=False)
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def api_error(call: Any, **kwargs: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call(**kwargs)
    return raised.value


# ------------------------------------------------------------------------ auth and wire format


def test_auth_test_speaks_slacks_wire_format(slack: FakeSlack, client: WebClient) -> None:
    response = client.auth_test()

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response["ok"] is True
    assert response["user_id"] == "UBOT"
    assert response["team_id"] == "T0TEAM"
    assert response["bot_id"] == "B0BOT"
    assert slack.api_url == f"http://127.0.0.1:{slack.port}/api/"
    (call,) = slack.calls_to("auth.test")
    assert call.headers["authorization"] == "Bearer xoxb-test-token"
    assert call.ok


@pytest.mark.parametrize(
    ("token", "error"),
    [("xoxb-wrong", "invalid_auth"), (None, "not_authed")],
)
def test_bad_or_missing_token(slack: FakeSlack, token: str | None, error: str) -> None:
    refused = api_error(WebClient(token=token, base_url=slack.api_url).auth_test)

    assert refused.response.status_code == 200
    assert refused.response.data == {"ok": False, "error": error}


def test_revoked_token(slack: FakeSlack, client: WebClient) -> None:
    slack.revoke_token()
    assert api_error(client.auth_test).response["error"] == "invalid_auth"
    slack.revoke_token(error="token_revoked")
    assert api_error(client.users_list).response["error"] == "token_revoked"
    slack.restore_token()
    assert client.auth_test()["ok"]


def test_token_as_form_argument_but_never_in_a_json_body(slack: FakeSlack) -> None:
    form = httpx.post(f"{slack.api_url}auth.test", data={"token": slack.bot_token}, timeout=5)
    in_json = httpx.post(f"{slack.api_url}auth.test", json={"token": slack.bot_token}, timeout=5)

    assert form.json()["ok"] is True
    assert form.headers["content-type"] == "application/json; charset=utf-8"
    assert in_json.json() == {"ok": False, "error": "not_authed"}


def test_unknown_method(client: WebClient) -> None:
    refused = api_error(client.api_call, api_method="deals.frobnicate")

    assert refused.response.status_code == 200
    assert refused.response.data == {"ok": False, "error": "unknown_method", "req_method": "deals.frobnicate"}


# ------------------------------------------------------------------------ chat.*


def test_post_to_a_user_opens_an_im(slack: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Deal* won"}}]

    posted = client.chat_postMessage(channel="U1ANA", text="Deal won", blocks=blocks)

    assert posted["channel"].startswith("D")
    assert posted["channel"] == slack.im_channel("U1ANA")
    assert posted["message"]["bot_id"] == "B0BOT"
    assert posted["message"]["blocks"][0]["block_id"]  # Slack fills block ids in
    (message,) = slack.messages_in("U1ANA")
    assert message["ts"] == posted["ts"]
    assert message["text"] == "Deal won"
    opened = client.conversations_open(users="U1ANA")
    assert opened["channel"]["id"] == posted["channel"]
    assert opened["already_open"] is True
    (call,) = slack.calls_to("chat.postMessage")
    assert call.params["blocks"] == blocks  # slack_sdk sends JSON
    assert call.headers["content-type"].startswith("application/json")


def test_form_encoded_blocks_are_kept_as_sent_and_decodable(slack: FakeSlack) -> None:
    blocks = [{"type": "divider"}]
    response = httpx.post(
        f"{slack.api_url}chat.postMessage",
        data={"channel": "C0GENERAL", "text": "hi", "blocks": json.dumps(blocks)},
        headers={"Authorization": f"Bearer {slack.bot_token}"},
        timeout=5,
    )

    assert response.json()["ok"] is True
    (call,) = slack.calls_to("chat.postMessage")
    assert call.params["blocks"] == json.dumps(blocks)
    assert call.decoded("blocks") == blocks
    assert call.decoded_params["text"] == "hi"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
        ({"channel": "U0NOBODY", "text": "x"}, "channel_not_found"),
        ({"channel": "C0OUTSIDE", "text": "x"}, "not_in_channel"),
        ({"channel": "G0SECRET", "text": "x"}, "channel_not_found"),
        ({"channel": "C0GENERAL", "text": "x" * 40001}, "msg_too_long"),
    ],
)
def test_post_message_errors(slack: FakeSlack, client: WebClient, kwargs: dict[str, Any], error: str) -> None:
    assert api_error(client.chat_postMessage, **kwargs).response["error"] == error
    assert not any(slack.messages.values())


def test_post_message_without_content_is_no_text(client: WebClient) -> None:
    with pytest.warns(UserWarning, match="`text` argument is missing"):
        refused = api_error(client.chat_postMessage, channel="C0GENERAL")

    assert refused.response["error"] == "no_text"


def test_posting_publicly_needs_chat_write_public(slack: FakeSlack, client: WebClient) -> None:
    slack.add_scope("chat:write.public")

    assert client.chat_postMessage(channel="#outside", text="hello")["channel"] == "C0OUTSIDE"


def test_too_many_blocks_in_a_message(slack: FakeSlack, client: WebClient) -> None:
    divider = {"type": "divider"}
    assert client.chat_postMessage(channel="C0GENERAL", text="fifty", blocks=[divider] * 50)["ok"]

    refused = api_error(client.chat_postMessage, channel="C0GENERAL", text="many", blocks=[divider] * 51)

    assert refused.response["error"] == "invalid_blocks"
    assert refused.response["errors"] == ["no more than 50 items allowed [json-pointer:/blocks]"]
    assert refused.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]
    assert len(slack.messages_in("C0GENERAL")) == 1


def test_section_text_over_3000_characters(client: WebClient) -> None:
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}

    refused = api_error(client.chat_postMessage, channel="C0GENERAL", text="t", blocks=[section])

    assert refused.response["error"] == "invalid_blocks"
    assert (
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]" in refused.response["errors"]
    )


def test_update_delete_ephemeral_and_reactions(slack: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0GENERAL", text="draft")

    updated = client.chat_update(channel="C0GENERAL", ts=posted["ts"], text="final")
    client.reactions_add(channel="C0GENERAL", timestamp=posted["ts"], name="tada")
    again = api_error(client.reactions_add, channel="C0GENERAL", timestamp=posted["ts"], name="tada")
    ephemeral = client.chat_postEphemeral(channel="C0GENERAL", user="U2BEN", text="only you")

    assert updated["text"] == "final"
    assert again.response["error"] == "already_reacted"
    (message,) = slack.messages_in("general")
    assert message["text"] == "final"
    assert message["reactions"] == [{"name": "tada", "users": ["UBOT"], "count": 1}]
    assert ephemeral["message_ts"]
    assert slack.ephemeral_messages("U2BEN")[0]["message"]["text"] == "only you"
    assert api_error(client.chat_update, channel="C0GENERAL", ts="1.000000", text="x").response["error"] == (
        "message_not_found"
    )
    seeded = slack.add_message("C0GENERAL", "by a human", user="U1ANA")
    assert api_error(client.chat_update, channel="C0GENERAL", ts=seeded, text="x").response["error"] == (
        "cant_update_message"
    )
    assert client.chat_delete(channel="C0GENERAL", ts=posted["ts"])["ts"] == posted["ts"]
    assert [m["ts"] for m in slack.messages_in("C0GENERAL")] == [seeded]


# ------------------------------------------------------------------------ users, conversations


def test_users_info_and_lookup(slack: FakeSlack, client: WebClient) -> None:
    user = client.users_info(user="U1ANA")["user"]

    assert user["tz"] == "Europe/Paris"
    assert user["tz_offset"] in (3600, 7200)
    assert user["tz_label"].startswith("Central European")
    assert user["real_name"] == user["profile"]["real_name"] == "Ana Lima"
    assert user["profile"]["email"] == "ana@example.com"
    assert client.users_lookupByEmail(email="BEN@example.com")["user"]["id"] == "U2BEN"
    assert (
        api_error(client.users_lookupByEmail, email="nobody@example.com").response["error"]
        == "users_not_found"
    )
    assert api_error(client.users_info, user="U0NOBODY").response["error"] == "user_not_found"
    slack.remove_scope("users:read.email")
    assert "email" not in client.users_info(user="U1ANA")["user"]["profile"]
    refused = api_error(client.users_lookupByEmail, email="ana@example.com")
    assert refused.response["error"] == "missing_scope"
    assert refused.response["needed"] == "users:read.email"


def test_users_list_cursor_pagination(slack: FakeSlack, client: WebClient) -> None:
    for n in range(3):
        slack.add_user(f"U{n}X", None, f"Person {n}", deleted=n == 0)

    pages = [page["members"] for page in client.users_list(limit=2)]

    ids = [member["id"] for page in pages for member in page]
    assert ids == ["UBOT", "U1ANA", "U2BEN", "U0X", "U1X", "U2X"]
    assert [len(page) for page in pages] == [2, 2, 2]
    cursors = [call.params.get("cursor") for call in slack.calls_to("users.list")]
    assert cursors[0] is None
    assert all(cursors[1:])
    deleted = next(m for page in pages for m in page if m["id"] == "U0X")
    assert deleted["deleted"] is True
    assert "tz" not in deleted


def test_conversations_list_info_and_open(slack: FakeSlack, client: WebClient) -> None:
    slack.add_channel("C0DEALS", "deals")

    pages = client.conversations_list(limit=2, types="public_channel,private_channel")

    names = [channel["name"] for page in pages for channel in page["channels"]]
    assert names == ["general", "outside", "deals"]  # the private channel the bot is not in is hidden
    last = slack.calls_to("conversations.list")[-1]
    assert last.response["response_metadata"]["next_cursor"] == ""
    info = client.conversations_info(channel="C0OUTSIDE")["channel"]
    assert info["is_member"] is False
    assert api_error(client.conversations_info, channel="G0SECRET").response["error"] == "channel_not_found"
    first = client.conversations_open(users="U2BEN")
    assert first.data == {"ok": True, "channel": {"id": first["channel"]["id"]}}
    assert api_error(client.conversations_open, users="U0NOBODY").response["error"] == "user_not_found"


def test_usergroups_list(slack: FakeSlack, client: WebClient) -> None:
    slack.add_usergroup("S0SALES", "sales", users=["U1ANA"])

    (group,) = client.usergroups_list(include_users=True)["usergroups"]

    assert group["id"] == "S0SALES"
    assert group["handle"] == "sales"
    assert group["users"] == ["U1ANA"]


# ------------------------------------------------------------------------ views


def test_views_open_update_push_publish(slack: FakeSlack, client: WebClient) -> None:
    modal = {
        "type": "modal",
        "callback_id": "deal_modal",
        "title": {"type": "plain_text", "text": "New deal"},
        "blocks": [{"type": "section", "text": {"type": "plain_text", "text": "Hello"}}],
    }
    home = {"type": "home", "blocks": [{"type": "divider"}]}

    opened = client.views_open(trigger_id="123.456.abc", view=modal)["view"]
    updated = client.views_update(
        view_id=opened["id"], hash=opened["hash"], view={**modal, "callback_id": "v2"}
    )
    pushed = client.views_push(trigger_id="123.456.def", view=modal)["view"]
    published = client.views_publish(user_id="U1ANA", view=home)["view"]

    assert opened["id"].startswith("V")
    assert opened["callback_id"] == "deal_modal"
    assert updated["view"]["id"] == opened["id"]
    assert (slack.view(opened["id"]) or {}).get("callback_id") == "v2"
    assert pushed["id"] != opened["id"]
    assert (slack.home_view("U1ANA") or {}).get("id") == published["id"]
    assert client.views_publish(user_id="U1ANA", view=home)["view"]["id"] == published["id"]
    assert [r.method for r in slack.views] == [
        "views.open",
        "views.update",
        "views.push",
        "views.publish",
        "views.publish",
    ]
    stale = api_error(client.views_update, view_id=opened["id"], hash=opened["hash"], view=modal)
    assert stale.response["error"] == "hash_conflict"
    assert api_error(client.views_update, view_id="V0NOPE", view=modal).response["error"] == "not_found"


def test_views_open_refusals(client: WebClient) -> None:
    modal = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "T"},
        "blocks": [{"type": "divider"}] * 101,
    }

    no_trigger = api_error(client.views_open, trigger_id="", view={**modal, "blocks": []})
    too_many = api_error(client.views_open, trigger_id="1.2.3", view=modal)

    assert no_trigger.response["error"] == "invalid_arguments"
    assert too_many.response["error"] == "invalid_arguments"
    assert (
        "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"
        in (too_many.response["response_metadata"]["messages"])
    )


# ------------------------------------------------------------------------ files


def test_files_upload_v2_end_to_end(slack: FakeSlack, client: WebClient) -> None:
    data = b"name,amount\nAcme,1200\n"

    response = client.files_upload_v2(
        content=data,
        filename="pipeline.csv",
        title="Pipeline",
        alt_txt="weekly pipeline",
        channel="C0GENERAL",
        initial_comment="This week's pipeline",
    )

    (uploaded,) = slack.files
    assert response["file"]["id"] == uploaded.id
    assert response["file"]["title"] == "Pipeline"
    assert uploaded.content == data
    assert uploaded.filename == "pipeline.csv"
    assert uploaded.title == "Pipeline"
    assert uploaded.alt_txt == "weekly pipeline"
    assert uploaded.channel_id == "C0GENERAL"
    assert uploaded.initial_comment == "This week's pipeline"
    (message,) = slack.messages_in("C0GENERAL")
    assert message["text"] == "This week's pipeline"
    assert message["files"][0]["id"] == uploaded.id
    (ticket,) = slack.calls_to("files.getUploadURLExternal")
    assert ticket.params["length"] == str(len(data))
    assert ticket.response["upload_url"].startswith(slack.base_url)


def test_upload_url_answers_like_slacks(slack: FakeSlack, client: WebClient) -> None:
    ticket = client.files_getUploadURLExternal(filename="a.txt", length=3)

    answer = httpx.post(ticket["upload_url"], content=b"abc", timeout=5)

    assert (answer.status_code, answer.text) == (200, "OK - 3")
    assert httpx.post(f"{slack.base_url}/upload/v1/nope", content=b"x", timeout=5).status_code == 404


def test_missing_files_write_scope(slack: FakeSlack, client: WebClient) -> None:
    slack.remove_scope("files:write")

    refused = api_error(client.files_upload_v2, content=b"x", filename="x.txt", channel="C0GENERAL")

    assert refused.response["error"] == "missing_scope"
    assert refused.response["needed"] == "files:write"
    assert "chat:write" in refused.response["provided"].split(",")


# ------------------------------------------------------------------------ faults


def test_rate_limit_without_a_retry_handler_raises_429(slack: FakeSlack, client: WebClient) -> None:
    slack.rate_limit("chat.postMessage", retry_after=30)

    refused = api_error(client.chat_postMessage, channel="C0GENERAL", text="x")

    assert refused.response.status_code == 429
    assert refused.response.headers["Retry-After"] == "30"
    assert refused.response.data == {"ok": False, "error": "ratelimited"}
    assert client.chat_postMessage(channel="C0GENERAL", text="x")["ok"]


def test_rate_limit_retry_handler_honours_retry_after(
    slack: FakeSlack, client: WebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The handler sleeps Retry-After plus up to 1 s of jitter; drop the jitter to stay fast.
    monkeypatch.setattr(random, "random", lambda: 0.0)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    slack.rate_limit("chat.postMessage", times=1, retry_after=1)

    started = time.monotonic()
    posted = client.chat_postMessage(channel="C0GENERAL", text="after the wait")
    waited = time.monotonic() - started

    assert posted["ok"]
    assert waited >= 1.0
    first, second = slack.calls_to("chat.postMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0
    assert len(slack.messages_in("C0GENERAL")) == 1


def test_injected_failures_and_server_errors(slack: FakeSlack, client: WebClient) -> None:
    slack.fail("chat.postMessage", "is_archived")
    slack.server_error("users.list", status=503)
    slack.fail("*", "fatal_error")

    assert (
        api_error(client.chat_postMessage, channel="C0GENERAL", text="x").response["error"] == "is_archived"
    )
    unavailable = api_error(client.users_list)
    assert unavailable.response.status_code == 503
    assert api_error(client.auth_test).response["error"] == "fatal_error"
    assert client.chat_postMessage(channel="C0GENERAL", text="x")["ok"]


def test_latency(slack: FakeSlack, client: WebClient) -> None:
    slack.latency = 0.2
    started = time.monotonic()
    client.auth_test()
    assert time.monotonic() - started >= 0.2


def test_concurrent_calls_are_all_recorded(slack: FakeSlack, client: WebClient) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda n: client.chat_postMessage(channel="C0GENERAL", text=str(n)), range(24)))

    assert len(slack.calls_to("chat.postMessage")) == 24
    assert len({m["ts"] for m in slack.messages_in("C0GENERAL")}) == 24


# ------------------------------------------------------------------------ response_url


def test_response_url_takes_five_posts_then_used_url(slack: FakeSlack) -> None:
    url = slack.response_url("cmd-1")
    webhook = WebhookClient(url)

    statuses = [webhook.send(text=f"reply {n}").status_code for n in range(5)]
    sixth = webhook.send(text="one too many")

    assert statuses == [200] * 5
    assert (sixth.status_code, sixth.body) == (404, "used_url")
    assert [p["text"] for p in slack.responses("cmd-1")] == [f"reply {n}" for n in range(5)]
    assert slack.responses(url) == slack.responses("cmd-1")


def test_response_url_bound_to_a_message_replaces_it(slack: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0GENERAL", text="Approve?")
    url = slack.response_url(channel="C0GENERAL", message_ts=posted["ts"])

    WebhookClient(url).send(text="Approved by Ana", replace_original=True)

    (message,) = slack.messages_in("C0GENERAL")
    assert message["text"] == "Approved by Ana"


# ------------------------------------------------------------------------ signing


TEST_VECTOR_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)


def test_sign_matches_slacks_documented_example() -> None:
    signature = sign("8f742231b10e8888abcd99yyyzzz85a5", "1531420618", TEST_VECTOR_BODY)

    assert signature == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


@dataclass
class BoltApp:
    url: str
    seen: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def bolt(slack: FakeSlack) -> Iterator[BoltApp]:
    """A real Bolt app (its WebClient on the fake) served over WSGI on 127.0.0.1."""
    app = App(
        client=WebClient(token=slack.bot_token, base_url=slack.api_url),
        signing_secret=SIGNING_SECRET,
        process_before_response=True,
    )
    server: WSGIServer = make_server("127.0.0.1", 0, SlackRequestHandler(app), handler_class=_QuietHandler)
    running = BoltApp(url=f"http://127.0.0.1:{server.server_address[1]}")

    @app.command("/deal")
    def deal(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()
        running.seen.append(("command", command))
        respond(f"Looking up {command['text']}")

    @app.action("approve")
    def approve(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        running.seen.append(("action", body))

    @app.view("deal_modal")
    def submitted(ack: Ack, view: dict[str, Any]) -> None:
        ack()
        running.seen.append(("view", view))

    @app.event("app_mention")
    def mentioned(event: dict[str, Any], request: BoltRequest) -> None:
        running.seen.append(("event", {**event, "retry": request.headers.get("x-slack-retry-num")}))

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def requests(slack: FakeSlack, bolt: BoltApp) -> Iterator[SlackRequests]:
    with SlackRequests(bolt.url, SIGNING_SECRET, response_url_factory=slack.response_url) as sender:
        yield sender


def test_signature_verifier_accepts_what_slack_requests_sends(
    slack: FakeSlack, bolt: BoltApp, requests: SlackRequests
) -> None:
    url = slack.response_url("deal-cmd")

    response = requests.slash_command("Acme Corp", user_id="U1ANA", response_url=url)

    assert response.status_code == 200
    sent = requests.last_sent
    assert SignatureVerifier(SIGNING_SECRET).is_valid_request(sent.body, sent.headers)
    assert sent.signature == sign(SIGNING_SECRET, sent.timestamp or "", sent.body)
    form = dict(urllib.parse.parse_qsl(sent.text, keep_blank_values=True))
    assert list(form) == [
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    ]
    assert "command=%2Fdeal" in sent.text
    ((kind, command),) = bolt.seen
    assert kind == "command"
    assert command["text"] == "Acme Corp"
    assert slack.responses("deal-cmd") == [{"text": "Looking up Acme Corp"}]
    assert slack.calls_to("auth.test")  # Bolt verified its token against the fake


def test_forged_requests_are_refused(bolt: BoltApp, requests: SlackRequests) -> None:
    genuine = requests.slash_command("Acme", user_id="U1ANA")
    body, form, now = requests.last_sent.text, "application/x-www-form-urlencoded", int(time.time())
    tampered = SentRequest(
        url=requests.last_sent.url,
        headers=requests.last_sent.headers,
        body=requests.last_sent.body.replace(b"Acme", b"Evil"),
    )

    statuses = {
        "zero signature": requests.post(body, form, signature="v0=" + "0" * 64).status_code,
        "other secret": requests.post(
            body, form, timestamp=now, signature=sign("nope", str(now), body)
        ).status_code,
        "stale timestamp": requests.post(body, form, timestamp=now - 6 * 60).status_code,
        "unsigned": requests.post(body, form, sign=False).status_code,
        "no signature header": requests.post(body, form, headers={"X-Slack-Signature": None}).status_code,
        "tampered body": requests.replay(tampered).status_code,
    }

    assert genuine.status_code == 200
    assert statuses == dict.fromkeys(statuses, 401)
    assert len(bolt.seen) == 1
    assert "X-Slack-Signature" not in requests.sent[4].headers
    assert "X-Slack-Request-Timestamp" not in requests.sent[4].headers


def test_replay_sends_the_same_bytes_and_headers(bolt: BoltApp, requests: SlackRequests) -> None:
    first = requests.slash_command("Acme", user_id="U1ANA")

    again = requests.replay(first)
    once_more = requests.replay()

    assert first.status_code == again.status_code == once_more.status_code == 200
    original, replayed, last = requests.sent
    assert replayed.body == original.body == last.body
    assert replayed.signature == original.signature
    assert replayed.timestamp == original.timestamp
    assert len(bolt.seen) == 3


def test_interactivity_events_and_url_verification(
    slack: FakeSlack, bolt: BoltApp, requests: SlackRequests
) -> None:
    action = {"action_id": "approve", "value": "deal-42", "text": {"type": "plain_text", "text": "Approve"}}
    view = {"callback_id": "deal_modal", "state": {"values": {"amount": {"value": {"value": "1200"}}}}}

    assert requests.block_actions(user_id="U1ANA", actions=[action]).status_code == 200
    assert requests.view_submission(user_id="U1ANA", view=view).status_code == 200
    assert (
        requests.event(
            {"type": "app_mention", "user": "U1ANA", "text": "<@UBOT> hi"}, retry_num=1
        ).status_code
        == 200
    )
    verification = requests.url_verification("challenge-abc")

    assert verification.json() == {"challenge": "challenge-abc"}
    kinds = dict(bolt.seen)
    assert kinds["action"]["actions"][0]["value"] == "deal-42"
    assert kinds["action"]["container"]["type"] == "message"
    assert kinds["action"]["response_url"].startswith(f"{slack.base_url}/response/")
    assert kinds["view"]["state"]["values"]["amount"]["value"]["value"] == "1200"
    assert kinds["event"]["text"] == "<@UBOT> hi"
    assert kinds["event"]["retry"] == ["1"]
    assert requests.sent[0].payload()["type"] == "block_actions"
    assert requests.sent[2].payload()["type"] == "event_callback"
