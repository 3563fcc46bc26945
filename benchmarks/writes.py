"""Write throughput: updates queued at once, applied to a slow HubSpot by the real outbox worker.

Run from the repo root (see benchmarks/README.md)::

    .venv/bin/python -m benchmarks.writes [--sizes 200,1000] [--latency 2.0] [--database-url URL]

For each size: fresh fake HubSpot and fake Slack servers (in this process), a fresh SQLite file (or
an empty PostgreSQL database), that many deals synced into the mirror while the CRM is fast; then
every HubSpot call takes `--latency` seconds, one update per deal is queued in one transaction (a
note on every fourth), and the real runtime's workers (real HubSpot adapter, real Slack notifier)
apply them. Always exits 0: it prints PASS/FAIL against the targets, it does not enforce them.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

CRM_LATENCY = 2.0  # seconds, every fake HubSpot call
TARGETS = {200: 15.0, 1000: 60.0}  # seconds until every update is in the CRM (issue #11)
NOTE_EVERY = 4  # one update in four carries a note
TIMEOUT = 300.0  # give up waiting after this long (then FAIL)
HUBSPOT_TOKEN = "pat-bench-token"
BOT_TOKEN = "xoxb-bench-token"
SIGNING_SECRET = "bench-signing-secret-1234567890abcdef"
PEOPLE = {"101": "U0ALICE", "102": "U0BRUNO"}  # CRM owner -> the Slack user who updates their deals


@dataclass
class Run:
    size: int
    in_crm: float | None  # seconds from queueing until every value is in HubSpot (None: timed out)
    told: float | None  # ... until every person was told it was saved
    requests: Counter[str]
    saved_once: int  # people told "Saved" exactly once
    other_messages: int  # anything else said to them (a "queued", a second "Saved", a refusal)
    statuses: Counter[str]


def run(size: int, latency: float, url: str) -> Run:
    import json
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from bot.db import create_db_engine, migrate
    from bot.services import build_services, build_slack_client
    from bot.settings import load_settings
    from bot.slack_app import create_runtime
    from core.mirror.sync import sync_mirror
    from core.models import OutboxEntry
    from core.queues.outbox import ChangeRequest, enqueue
    from rituals.config import parse_rituals_text
    from tests.deal_scenario import RITUALS, seed
    from tests.fakes.hubspot import FakeHubSpot
    from tests.fakes.slack import FakeSlack

    hubspot = FakeHubSpot(token=HUBSPOT_TOKEN).start()
    slack = FakeSlack(bot_token=BOT_TOKEN).start()
    engine = create_db_engine(url)
    migrate(engine)
    engine.dispose()
    seed(hubspot, slack)
    owners = list(PEOPLE)
    deals = hubspot.add_deals_bulk(
        size,
        lambda i: {
            "dealname": f"Bench {i}",
            "pipeline": "default",
            "dealstage": "qualifiedtobuy",
            "amount": "1000",
            "hubspot_owner_id": owners[i % len(owners)],
        },
    )
    settings = load_settings(
        env_file=None,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=slack.api_url,
        database_url=url,
        log_format="text",
        hubspot_access_token=HUBSPOT_TOKEN,
        hubspot_api_url=hubspot.url,
        CRM="hubspot",
    )
    services = build_services(settings, rituals=parse_rituals_text(RITUALS))
    runtime = create_runtime(services, build_slack_client(settings))
    try:
        sync_mirror(services.crm, services.sessions, now=datetime.now(UTC))  # before the CRM turns slow
        hubspot.latency = latency
        runtime.start_workers()
        urls = [slack.response_url() for _ in deals]
        amounts = {deal_id: str(5000 + i) for i, deal_id in enumerate(deals)}
        hubspot.reset_requests()
        started = time.monotonic()
        with services.sessions.begin() as session:  # queued at once: one transaction
            for i, deal_id in enumerate(deals):
                enqueue(
                    session,
                    ChangeRequest(
                        deal_id,
                        f"Bench {i}",
                        {"amount": amounts[deal_id]},
                        {"amount": "1000"},
                        f"bench note {i}" if i % NOTE_EVERY == 0 else None,
                        PEOPLE[owners[i % len(owners)]],
                        "slash",
                        response_url=urls[i],
                    ),
                    now=services.clock(),
                )
        runtime.worker.wake()
        in_crm = told = None
        while time.monotonic() - started < TIMEOUT and (in_crm is None or told is None):
            now = time.monotonic() - started
            if in_crm is None and all(
                hubspot.deals[d]["properties"]["amount"] == amount for d, amount in amounts.items()
            ):
                in_crm = now
            if told is None and all(slack.responses(u) for u in urls):
                told = now
            time.sleep(0.05)
        time.sleep(1.0)  # a late second message would show here
        said = [[json.dumps(r) for r in slack.responses(u)] for u in urls]
        with services.sessions() as session:
            statuses = Counter(
                dict(
                    session.execute(
                        select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status)
                    ).all()
                )
            )
        requests = Counter(_kind(r.method, r.path) for r in list(hubspot.requests))
    finally:
        for fake in (hubspot, slack):  # calls cut short by the shutdown are expected
            if fake._server is not None:
                fake._server.handle_error = lambda *_: None  # type: ignore[method-assign]
        runtime.stop_workers()
        services.close()
        slack.stop()
        hubspot.stop()
    return Run(
        size=size,
        in_crm=in_crm,
        told=told,
        requests=requests,
        saved_once=sum(1 for s in said if len(s) == 1 and "Saved" in s[0]),
        other_messages=sum(len(s) for s in said) - sum(1 for s in said if s and "Saved" in s[0]),
        statuses=statuses,
    )


def _kind(method: str, path: str) -> str:
    for marker, name in (
        ("/deals/batch/update", "deal batch updates"),
        ("/notes/batch/create", "note batch creates"),
        ("/search", "searches"),
        ("/batch/read", "batch reads"),
    ):
        if marker in path:
            return name
    return f"other {method}"


def report(runs: Sequence[Run], latency: float, database: str) -> None:
    print(
        f"\nmachine: {os.cpu_count()} CPUs (nproc), Python {platform.python_version()}, "
        f"{platform.system()} {platform.machine()}; database: {database}; every CRM call {latency:.1f} s; "
        f"a note on one update in {NOTE_EVERY}"
    )
    print(
        f"{'updates':>8} {'all in CRM':>11} {'all told':>9} {'CRM requests':>13}  told 'Saved' once  target"
    )
    for r in runs:
        target = TARGETS.get(r.size)
        met = r.in_crm is not None and (target is None or r.in_crm <= target)
        once = r.saved_once == r.size and r.other_messages == 0
        verdict = "PASS" if met and once else "FAIL"
        print(
            f"{r.size:>8} {_secs(r.in_crm):>11} {_secs(r.told):>9} {sum(r.requests.values()):>13}  "
            f"{r.saved_once:>5}/{r.size:<5} {f'+{r.other_messages} other' if r.other_messages else '':<9}"
            f" {verdict} (<= {target or '-'} s, each told once)"
        )
        print(f"{'':>8} requests: {dict(sorted(r.requests.items()))}; outbox: {dict(r.statuses)}")


def _secs(value: float | None) -> str:
    return "timeout" if value is None else f"{value:.1f} s"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="200,1000", help="comma-separated numbers of updates")
    parser.add_argument("--latency", type=float, default=CRM_LATENCY, help="seconds per CRM call")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (a fresh drumbeat_bench_<random> database is made on it for each size "
        "and dropped) instead of a fresh SQLite file",
    )
    args = parser.parse_args(argv)
    import logging

    from benchmarks.digest import fresh_database

    logging.basicConfig(level=logging.ERROR)  # a bug in the worker shows; its retries do not
    runs = []
    for size in (int(s) for s in args.sizes.split(",") if s.strip()):
        began = time.monotonic()
        with fresh_database(args.database_url) as url:  # each size on an empty database
            runs.append(run(size, args.latency, url))
        print(f"{size} updates: run took {time.monotonic() - began:.0f} s", file=sys.stderr)
    report(runs, args.latency, "PostgreSQL" if args.database_url else "SQLite (WAL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
