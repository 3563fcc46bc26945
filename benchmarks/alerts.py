"""Deal alerts: what an idle `serve` costs in HubSpot requests, and how long a change takes to reach Slack.

Run from the repo root (see benchmarks/README.md)::

    .venv/bin/python -m benchmarks.alerts [--deals N]

The fake HubSpot and Slack run in this process, behind the real HubSpot adapter and Slack client.
An hour of `serve`'s minute syncs is replayed with an injected clock (nothing changes in HubSpot),
and the HubSpot requests counted; then a deal is won and the time from the sync that finds it to
the post in Slack is measured. A change waits for the next minute's sync (or a webhook), so the
time a person sees is at most one sync interval plus that. Always exits 0: it prints figures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.db import create_db_engine, migrate
from bot.services import build_services, build_slack_client
from bot.settings import load_settings
from bot.slack_app import create_runtime
from core.mirror.sync import sync_mirror
from rituals.config import parse_rituals_text
from rituals.scheduler import MIRROR_SYNC_MINUTES
from tests.deal_scenario import SettableClock
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.hubspot_helpers import fast_adapter

BOT_TOKEN = "xoxb-bench-token"
HUBSPOT_TOKEN = "pat-bench-token"
START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
RITUALS = """
rituals:
  - id: big-wins
    kind: deal_alert
    when: {stage_becomes: closedwon, amount_at_least: 20000}
    post_to: "#wins"
    mention_owner: true
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=2000, help="deals in the portal (default 2000)")
    parser.add_argument("--changes", type=int, default=20, help="wins to time, one per sync (default 20)")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as scratch,
        FakeHubSpot(token=HUBSPOT_TOKEN) as hubspot,
        FakeSlack(bot_token=BOT_TOKEN) as slack,
    ):
        clock = SettableClock(START)
        hubspot.clock = clock
        hubspot.add_default_pipeline()
        hubspot.add_owner("101", "alice@acme.example", "Alice", "Martin")
        slack.add_user("U0ALICE", "alice@acme.example", "Alice Martin", tz="Europe/Paris")
        slack.add_channel("C0WINS", "wins")
        ids = hubspot.add_deals_bulk(
            args.deals,
            lambda i: {
                "dealname": f"Deal {i}",
                "hubspot_owner_id": "101",
                "pipeline": "default",
                "dealstage": "contractsent",
                "amount": "25000",
                "createdate": str(int((START - timedelta(days=90)).timestamp() * 1000)),
                # Last edited over the past weeks, as in a real portal (not all at one instant).
                "hs_lastmodifieddate": str(int((START - timedelta(minutes=17 * (i + 1))).timestamp() * 1000)),
            },
        )
        url = f"sqlite:///{Path(scratch) / 'bench.db'}"
        engine = create_db_engine(url)
        migrate(engine)
        engine.dispose()
        settings = load_settings(
            env_file=None,
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret="bench-signing-secret-1234567890abcdef",
            slack_api_url=slack.api_url,
            database_url=url,
            hubspot_access_token=HUBSPOT_TOKEN,
            hubspot_api_url=hubspot.url,
            CRM="hubspot",
            log_format="text",
        )
        services = build_services(
            settings, rituals=parse_rituals_text(RITUALS), crm=fast_adapter(hubspot), clock=clock
        )
        runtime = create_runtime(services, build_slack_client(settings))

        def minute_sync(moment: datetime) -> int:
            clock.set(moment)
            sync_mirror(services.crm, services.sessions, now=moment)
            runtime.check_alerts()
            return runtime.alert_posts.run_once()

        minute_sync(START)  # the first sync copies the portal; alerts start watching
        first_sync_requests = len(hubspot.requests)
        hubspot.reset_requests()
        syncs = 60 // MIRROR_SYNC_MINUTES
        for n in range(1, syncs + 1):
            minute_sync(START + timedelta(minutes=n * MIRROR_SYNC_MINUTES))
        idle_requests = len(hubspot.requests)

        latencies = []
        moment = START + timedelta(hours=1)
        for deal_id in ids[: args.changes]:
            moment += timedelta(minutes=MIRROR_SYNC_MINUTES)
            clock.set(moment - timedelta(seconds=30))
            hubspot.touch_deal(deal_id, dealstage="closedwon")
            before = len(slack.messages_in("C0WINS"))
            started = time.perf_counter()
            posted = minute_sync(moment)
            latencies.append(time.perf_counter() - started)
            assert posted == 1 and len(slack.messages_in("C0WINS")) == before + 1
        services.close()

    print(f"portal: {args.deals} deals; serve syncs every {MIRROR_SYNC_MINUTES} min")
    print(f"first sync: {first_sync_requests} HubSpot requests")
    print(f"idle serve: {idle_requests} HubSpot requests in an hour ({syncs} syncs, nothing changed)")
    p50 = statistics.median(latencies) * 1000
    worst = max(latencies) * 1000
    print(
        f"sync that finds a win -> post in Slack: median {p50:.0f} ms, max {worst:.0f} ms "
        f"({len(latencies)} wins)"
    )
    print(
        f"change in HubSpot -> alert in Slack: at most {MIRROR_SYNC_MINUTES * 60} s + {worst:.0f} ms "
        "by the minute sync; about a second with webhooks"
    )


if __name__ == "__main__":
    main()
