"""A small sales team in the fake HubSpot and the fake Slack, and a running Drumbeat over them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from core.mirror.sync import sync_mirror
from core.models import AuditEntry, OutboxEntry
from rituals.config import RitualsConfig, parse_rituals_text
from tests.conftest import RunningApp, make_settings, start_app
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.hubspot_helpers import fast_adapter

RITUALS = """
timezone: Europe/Paris
admins: [U0ADMIN]
people:
  - {crm_owner: "101", slack: U0ALICE, manager: U0MAXIME}
  - {crm_owner: "102", slack: U0BRUNO, manager: U0MAXIME}
deal_command:
  name: /deal
  aliases: {champion: champion_name}
rituals: []
"""


class SettableClock:
    """The app's clock: real time (or a frozen instant), plus whatever a test moves it forward by."""

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self.offset = timedelta()
        self.frozen_at = frozen_at
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return (self.frozen_at or datetime.now(UTC)) + self.offset

    def set(self, moment: datetime) -> None:
        with self._lock:
            self.frozen_at, self.offset = moment, timedelta()

    def advance(self, **delta: float) -> None:
        with self._lock:
            self.offset += timedelta(**delta)


@dataclass
class Team:
    acme: str
    acme_logistics: str
    globex: str
    initech: str
    overdue: str


def seed(hubspot: FakeHubSpot, slack: FakeSlack, now: datetime | None = None) -> Team:
    hubspot.add_default_pipeline()
    hubspot.add_owner("101", "alice@acme.example", "Alice", "Martin")
    hubspot.add_owner("102", "bruno@acme.example", "Bruno", "Costa")
    hubspot.add_owner("103", "chloe@acme.example", "Chloé", "Dubois")
    slack.add_user("U0ALICE", "alice@acme.example", "Alice Martin", tz="Europe/Paris")
    slack.add_user("U0BRUNO", "bruno@acme.example", "Bruno Costa", tz="Europe/Paris")
    slack.add_user("U0CHLOE", "chloe@acme.example", "Chloé Dubois", tz="America/New_York")
    slack.add_user("U0MAXIME", "maxime@acme.example", "Maxime Laurent", tz="Europe/Paris")
    slack.add_user("U0ADMIN", "ops@acme.example", "Sales Ops", tz="Europe/Paris")
    slack.add_user("U0STRANGER", "guest@elsewhere.example", "A Guest", tz="UTC")
    now = now or datetime.now(UTC)
    today = now.date()
    recent = str(int((now - timedelta(days=2)).timestamp() * 1000))
    old = str(int((now - timedelta(days=40)).timestamp() * 1000))
    created = str(int((now - timedelta(days=90)).timestamp() * 1000))

    def deal(name: str, owner: str, stage: str, amount: str | None, close_in_days: int, touched: str) -> str:
        return hubspot.add_deal(
            dealname=name,
            hubspot_owner_id=owner,
            pipeline="default",
            dealstage=stage,
            amount=amount,
            closedate=(today + timedelta(days=close_in_days)).isoformat() + "T00:00:00Z",
            notes_last_updated=touched,
            createdate=created,
            deal_currency_code="EUR",
        )

    return Team(
        acme=deal("Acme Corp", "101", "presentationscheduled", "10000", 30, recent),
        acme_logistics=deal("Acme Logistics", "102", "qualifiedtobuy", "5000", 40, recent),
        globex=deal("Globex", "101", "closedwon", "20000", -5, recent),
        initech=deal("Initech", "101", "appointmentscheduled", None, 60, old),
        overdue=deal("Umbrella", "101", "contractsent", "7000", -3, recent),
    )


def start_drumbeat(
    database_url: str,
    slack: FakeSlack,
    hubspot: FakeHubSpot,
    *,
    clock: SettableClock,
    worker: bool = True,
    rituals: RitualsConfig | None = None,
) -> RunningApp:
    """Injected time: the real HubSpot adapter retries without sleeping, and the app's clock can move."""
    settings = make_settings(database_url, slack, hubspot)
    rituals = rituals or parse_rituals_text(RITUALS)
    app = start_app(settings, worker=False, rituals=rituals, crm=fast_adapter(hubspot), clock=clock)
    sync_mirror(app.services.crm, app.services.sessions, now=clock())
    if worker:
        app.runtime.start_workers()
    return app


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def outbox_rows(app: RunningApp) -> list[OutboxEntry]:
    with app.services.sessions() as session:
        return list(session.scalars(select(OutboxEntry).order_by(OutboxEntry.id)))


def audit_count(app: RunningApp) -> int:
    with app.services.sessions() as session:
        return session.scalar(select(func.count()).select_from(AuditEntry)) or 0
