"""`drumbeat serve` and `drumbeat socket` as a process, the way an admin starts them."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx

from tests.cli import DRUMBEAT, run_drumbeat
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.fakes.slack import FakeSlack
from tests.slack_signing import SlackRequests


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(sqlite_url: str, slack: FakeSlack, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_URL": sqlite_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "CRM": "demo",
        "LOG_FORMAT": "json",
        **extra,
    }


def test_serve_answers_slack_and_health_then_stops_on_sigterm(
    sqlite_url: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = _env(sqlite_url, fake_slack)
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    port = _free_port()
    process = subprocess.Popen(
        [DRUMBEAT, "serve", "--port", str(port)], env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                health = httpx.get(f"{url}/healthz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not start listening"
                time.sleep(0.1)
        assert health.status_code == 200
        with SlackRequests(url, SIGNING_SECRET) as slack:
            assert slack.url_verification("abc").json() == {"challenge": "abc"}
            assert (
                slack.post("x=1", "application/x-www-form-urlencoded", signature="v0=forged").status_code
                == 401
            )
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0
    assert '"message": "serving Slack requests on port' in stderr
    assert "refused a Slack request with a missing, wrong or expired signature" in stderr
    assert SIGNING_SECRET not in stderr
    assert BOT_TOKEN not in stderr


def test_serve_refuses_to_start_with_a_rejected_slack_token(
    sqlite_url: str, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    env = _env(sqlite_url, fake_slack)
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    fake_slack.revoke_token()
    result = run_drumbeat("serve", "--port", str(_free_port()), env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "error: Slack refused the bot token (invalid_auth): check SLACK_BOT_TOKEN."
    )


def test_serve_refuses_an_unmigrated_database(sqlite_url: str, fake_slack: FakeSlack, tmp_path: Path) -> None:
    result = run_drumbeat("serve", env=_env(sqlite_url, fake_slack), cwd=tmp_path)
    assert result.returncode == 1
    assert "run `drumbeat migrate` first" in result.stderr


def test_socket_mode_needs_an_app_token(sqlite_url: str, fake_slack: FakeSlack, tmp_path: Path) -> None:
    result = run_drumbeat("socket", env=_env(sqlite_url, fake_slack), cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_APP_TOKEN is not set" in result.stderr
