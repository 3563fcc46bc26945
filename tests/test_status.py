"""`drumbeat status`: what an admin sees about rituals, queues, the mirror and health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.status import gather_status
from core.models import RitualFiring
from core.queues.outbox import ChangeRequest, enqueue
from integrations.demo import DemoCRM
from rituals.config import parse_rituals_text
from tests.cli import run_drumbeat
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.fakes.slack import FakeSlack

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RITUALS = """\
timezone: Europe/Paris
rituals:
  - id: weekly-digest
    kind: pipeline_digest
    schedule: "0 8 * * mon"
    channel: "#sales-weekly"
  - id: stale-deals
    kind: stale_deals
    schedule: "0 9 * * mon-fri"
    enabled: false
"""


def test_status_shows_last_outcomes_and_queue_depths(sessions: sessionmaker[Session]) -> None:
    config = parse_rituals_text(RITUALS)
    with sessions.begin() as session:
        session.add(
            RitualFiring(
                ritual_id="weekly-digest",
                scheduled_local="2026-11-30T08:00",
                scheduled_for=NOW - timedelta(hours=5),
                claimed_at=NOW - timedelta(hours=5),
                claimed_by="replica-1",
                status="failed",
                summary="weekly-digest: nothing was posted to #sales-weekly: Drumbeat is not a member",
            )
        )
        for deal_id in ("1", "2"):
            request = ChangeRequest(
                deal_id, "Acme", {"amount": "1000"}, {"amount": None}, None, "U1", "command"
            )
            enqueue(session, request, now=NOW - timedelta(hours=2))
    status = gather_status(
        sessions, config, crm=DemoCRM(sessions), crm_label="the demo CRM", slack_problem=lambda: None, now=NOW
    )
    digest, stale = status.rituals
    assert digest.last_status == "failed"
    assert digest.last_summary is not None and "not a member" in digest.last_summary
    assert digest.next_firing == datetime(2026, 12, 7, 8, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert digest.next_firing.utcoffset() == timedelta(hours=1)
    assert (stale.enabled, stale.next_firing, stale.last_status) == (False, None, None)
    outbox = status.queues[0]
    assert (outbox.waiting, outbox.oldest_age, outbox.failed) == (2, timedelta(hours=2), 0)
    assert not status.healthy  # a failed firing needs an admin


def test_the_status_command_reports_health_and_fails_when_slack_refuses(
    tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack
) -> None:
    rituals = tmp_path / "rituals.yaml"
    rituals.write_text(RITUALS)
    env = {
        "DATABASE_URL": sqlite_url,
        "CRM": "demo",
        "RITUALS_FILE": str(rituals),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
    }
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    healthy = run_drumbeat("status", "--now", "2026-11-30T12:00:00+01:00", env=env, cwd=tmp_path)
    assert healthy.returncode == 0, healthy.stderr
    assert "weekly-digest" in healthy.stdout
    assert "Mon 7 Dec 08:00 CET" in healthy.stdout
    assert "CRM updates (outbox): 0 waiting" in healthy.stdout
    assert "The demo CRM: ok" in healthy.stdout
    assert "Slack: ok" in healthy.stdout
    fake_slack.revoke_token()
    refused = run_drumbeat("status", env=env, cwd=tmp_path)
    assert refused.returncode == 1
    assert "Slack: Slack refused the bot token (invalid_auth)" in refused.stdout
    assert BOT_TOKEN not in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
