"""Deployed as users deploy: the wheel from a plain `pip install .`, in a fresh virtualenv, not editable.

Runs from a folder outside the checkout, so nothing can be imported from the source tree: a package
left out of the wheel fails here as it would on a Procfile platform or in a Docker image.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path

import httpx
import pytest

from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.fakes.slack import FakeSlack

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`drumbeat` from the built wheel, in a virtualenv that has never seen the source tree."""
    work = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools keeps a build/ folder in the source, whose stale modules would
    # otherwise reach the next wheel.
    source = work / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(".*", "build", "dist", "*.egg-info", "__pycache__", "*.db", "tests"),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (work / "dist").glob("drumbeat-*.whl")
    venv.create(work / "venv", with_pip=True)
    python = work / "venv" / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True, timeout=600
    )
    return work / "venv" / "bin" / "drumbeat"


def _run(
    drumbeat: Path, *args: str, env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(drumbeat), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    # No PYTHONPATH and a cwd outside the checkout: only the installed wheel can be imported.
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'drumbeat.db'}",
        "LOG_FORMAT": "text",
        "COLUMNS": "120",
        **extra,
    }


def test_the_wheel_holds_every_package_of_the_source_tree(installed: Path) -> None:
    site = next((installed.parent.parent / "lib").glob("python*/site-packages"))
    for package in ("bot", "handlers", "rituals", "core", "integrations", "migrations"):
        in_tree = {p.relative_to(ROOT) for p in (ROOT / package).rglob("*.py")}
        in_wheel = {p.relative_to(site) for p in (site / package).rglob("*.py")}
        assert in_tree - in_wheel == set(), f"{package}: left out of the wheel"
    assert (site / "migrations" / "script.py.mako").exists()


def test_the_installed_wheel_runs_the_demo(installed: Path, tmp_path: Path) -> None:
    result = _run(installed, "demo", env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "stale-deals" in result.stdout
    assert "Traceback" not in result.stderr


def test_the_installed_wheel_prints_the_slack_manifest(installed: Path, tmp_path: Path) -> None:
    result = _run(
        installed, "manifest", "--url", "https://drumbeat.acme.com", env=_env(tmp_path), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "request_url: https://drumbeat.acme.com/slack/events" in result.stdout


def test_the_installed_wheel_migrates_and_serves_health(installed: Path, tmp_path: Path) -> None:
    with FakeSlack(bot_token=BOT_TOKEN) as slack:
        env = _env(
            tmp_path,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=slack.api_url,
            CRM="demo",
        )
        migrated = _run(installed, "migrate", env=env, cwd=tmp_path)
        assert migrated.returncode == 0, migrated.stderr
        assert _run(installed, "migrate", env=env, cwd=tmp_path).returncode == 0
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        process = subprocess.Popen(
            [str(installed), "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = httpx.get(f"http://127.0.0.1:{port}/healthz")
                    break
                except httpx.TransportError:
                    assert process.poll() is None, process.communicate()[1]
                    assert time.monotonic() < deadline, "serve did not start listening"
                    time.sleep(0.2)
            assert health.status_code == 200, health.text
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
