"""Issue 12: `drumbeat serve` on SIGTERM finishes (or hands back) what it is working on, then exits 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from core.models import ReceivedCommand
from core.queues.commands import CommandInbox
from core.queues.leased import QueueWorker
from tests.cli import DRUMBEAT, run_drumbeat
from tests.conftest import BOT_TOKEN, HUBSPOT_TOKEN, SIGNING_SECRET
from tests.deal_scenario import RITUALS, SettableClock, seed, wait_until
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.hubspot_helpers import DEAL_BATCH_UPDATE as WRITE
from tests.slack_signing import SlackRequests

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _commands(sessions: Any, count: int) -> list[int]:
    with sessions.begin() as session:
        rows = [
            {
                "slack_user": "U0ALICE",
                "text": f"acme amount={n}k",
                "response_url": None,
                "received_at": START,
                "status": "received",
                "attempts": 0,
            }
            for n in range(count)
        ]
        inserted = insert(ReceivedCommand).returning(ReceivedCommand.id, sort_by_parameter_order=True)
        return list(session.scalars(inserted, rows).all())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(tmp_path: Path, sqlite_url: str, slack: FakeSlack, hubspot: FakeHubSpot) -> dict[str, str]:
    rituals = tmp_path / "rituals.yaml"
    rituals.write_text(RITUALS, encoding="utf-8")
    return {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": sqlite_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
        "HUBSPOT_API_URL": hubspot.url,
        "RITUALS_FILE": str(rituals),
        "LOG_FORMAT": "json",
    }


def _serve(env: dict[str, str], tmp_path: Path, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [DRUMBEAT, "serve", "--port", str(port), "--no-scheduler"],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code in (200, 503):
                return process
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "serve did not start listening"
        time.sleep(0.1)


def test_sigterm_during_a_slow_crm_write_finishes_it_once_and_exits_0(
    tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    team = seed(fake_hubspot, fake_slack)
    env = _env(tmp_path, sqlite_url, fake_slack, fake_hubspot)
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    assert run_drumbeat("sync", env=env, cwd=tmp_path).returncode == 0
    port = _free_port()
    process = _serve(env, tmp_path, port)
    try:
        fake_hubspot.latency = 3.0  # every CRM request now takes 3 s
        url = fake_slack.response_url()
        with SlackRequests(f"http://127.0.0.1:{port}", SIGNING_SECRET) as slack:
            ack = slack.slash_command("acme corp amount=9k", user_id="U0ALICE", response_url=url)
        assert "Working on it" in ack.text
        # The batch update has reached HubSpot (which is slowly answering it): now the platform stops us.
        wait_until(lambda: fake_hubspot.request_count(path_contains=WRITE) == 1, timeout=20, what="the write")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert fake_hubspot.deals[team.acme]["properties"]["amount"] == "9000"
    assert fake_hubspot.request_count(path_contains=WRITE) == 1  # exactly once
    assert any("Saved" in json.dumps(r) for r in fake_slack.responses(url))  # the person was told
    assert "Traceback" not in stderr
    assert "shutting down" in stderr


def test_a_stopping_worker_hands_back_the_claimed_rows_it_has_not_started(sessions: Any) -> None:
    clock = SettableClock(START)
    inbox = CommandInbox(sessions, clock)
    ids = _commands(sessions, 3)
    worked: list[int] = []
    worker: QueueWorker[ReceivedCommand]

    def process(rows: list[ReceivedCommand]) -> None:
        worked.extend(row.id for row in rows)
        inbox.finish(rows[0])
        worker.stop()  # SIGTERM arrives while the first of the three claimed is being worked

    worker = QueueWorker(inbox, process, name="commands", batch=10)
    assert worker.run_once() == 1
    assert worked == ids[:1]
    # Another replica takes the other two at once, not after the lease, and their attempt is not spent.
    taken = inbox.claim("replica-b", limit=10)
    assert [(c.id, c.attempts) for c in taken] == [(ids[1], 1), (ids[2], 1)]


DIGEST_EVERY_MINUTE = """
timezone: UTC
people:
  - {crm_owner: "101", slack: U0ALICE, manager: U0MAXIME}
rituals:
  - id: digest
    kind: pipeline_digest
    schedule: "* * * * *"
    channel: "#sales-weekly"
"""


def test_sigterm_during_a_ritual_firing_lets_it_finish_then_exits_0(
    tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    seed(fake_hubspot, fake_slack)
    fake_slack.add_channel("C0SALESWK", "sales-weekly")
    env = _env(tmp_path, sqlite_url, fake_slack, fake_hubspot)
    Path(env["RITUALS_FILE"]).write_text(DIGEST_EVERY_MINUTE, encoding="utf-8")
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    assert run_drumbeat("sync", env=env, cwd=tmp_path).returncode == 0
    port = _free_port()
    process = subprocess.Popen(
        [DRUMBEAT, "serve", "--port", str(port)], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        # Start-up catches up the minute's missed firing; make its CRM refresh slow, then stop serve
        # while the firing is under way.
        fake_hubspot.latency = 1.5
        fake_hubspot.reset_requests()
        wait_until(lambda: fake_hubspot.request_count(method="POST") >= 1, timeout=30, what="the refresh")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "digest: posted to #sales-weekly; chart attached" in stderr  # the firing was finished
    assert fake_slack.messages_in("C0SALESWK")
    assert stderr.index("shutting down") < stderr.index("digest: posted") < stderr.index('"stopped"')
    assert "Traceback" not in stderr
