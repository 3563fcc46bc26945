"""Syncing a large portal within its budget: the first sync, incremental ones, a busy portal, replicas.

Run from the repo root (see benchmarks/README.md)::

    .venv/bin/python -m benchmarks.sync [--deals 100000] [--postgres-url postgresql://…]

The fake HubSpot runs in a child process (so the peak RSS measured is Drumbeat's alone) and holds
searches to HubSpot's 5 a second. Drumbeat runs its real sync (`core.mirror.sync.sync_mirror`, the
real HubSpot adapter, real time) into a fresh SQLite file, with the default settings: an allowance
of 100 requests per 10 s, of which it may use 80%. Always exits 0: it prints PASS/FAIL against the
targets, it does not enforce them.
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing
import os
import platform
import resource
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bot.db import create_db_engine, migrate, session_factory
from core.mirror.sync import sync_mirror
from integrations._ratelimit import RESERVE, WINDOW_MARGIN
from integrations.base import CrmError
from integrations.hubspot import SEARCH_PAGE_SIZE, SEARCH_REQUESTS_PER_SECOND, HubSpotCRM

TOKEN = "pat-bench-token"
ALLOWANCE = 100  # HUBSPOT_REQUESTS_PER_10S's default (Free/Starter)
SHARE = 0.8  # HUBSPOT_BUDGET_SHARE's default
OTHERS = 0.7  # "another integration" holds 70% of every window
CHANGES = 500
SEED_EVERY = timedelta(minutes=1)
CHANGE_EVERY = timedelta(seconds=2)  # the 500 changes spread over 17 minutes of CRM time
REPLICAS = 3
REPLICA_CALLS = 200  # each replica's reads of one deal, 4 threads a replica
REPLICA_TIME_SCALE = 2.0  # the fake's window is 5 s: the replicas' run takes a minute, not two
TARGET_TIME_RATIO = 1.2
TARGET_RSS_MB = 300
TARGET_429_SHARE = 0.05


# --------------------------------------------------------------------------- the fake, in a child


def fake_child(conn: Connection, time_scale: float) -> None:
    """Serves the fake HubSpot and answers the parent's commands about it."""
    from tests.fakes.hubspot import FakeHubSpot
    from tests.hubspot_helpers import deal_properties, seed_team

    fake = FakeHubSpot(
        token=TOKEN, enforce_search_rate=True, allowance=ALLOWANCE, time_scale=time_scale
    ).start()
    seed_team(fake)
    ids: list[str] = []

    def seed(count: int) -> int:
        # Last modified one a minute, the newest a day before the changes: as a real portal's spread.
        start = datetime.now(UTC) - timedelta(days=1) - SEED_EVERY * count
        ticks = itertools.count()
        fake.clock = lambda: start + SEED_EVERY * next(ticks)
        ids.extend(fake.add_deals_bulk(count, deal_properties))
        return len(ids)

    def touch(count: int) -> int:
        first = datetime.now(UTC) - CHANGE_EVERY * count
        for i, deal_id in enumerate(ids[:: max(1, len(ids) // count)][:count]):
            at = first + CHANGE_EVERY * i
            fake.clock = lambda at=at: at  # type: ignore[misc]
            fake.touch_deal(deal_id, dealstage="contractsent")
        return count

    def stats(window: float) -> dict[str, Any]:
        times = sorted(r.at for r in fake.requests)
        start = busiest = 0
        for end, at in enumerate(times):
            while at - times[start] >= window:
                start += 1
            busiest = max(busiest, end - start + 1)
        searches = sum(1 for r in fake.requests if r.path.endswith("/search"))
        return {"requests": len(times), "searches": searches, "refused": fake.refused, "busiest": busiest}

    def reset() -> None:
        fake.reset_requests()
        fake.refused = 0

    def configure(name: str, value: Any) -> None:
        setattr(fake, name, value)

    commands: dict[str, Callable[..., Any]] = {
        "seed": seed,
        "touch": touch,
        "stats": stats,
        "reset": reset,
        "set": configure,
        "ids": lambda count: ids[:count],
        "paths": lambda: dict(Counter(f"{r.method} {r.path}" for r in fake.requests)),
    }
    conn.send(fake.url)
    while True:
        command, *args = conn.recv()
        if command == "stop":
            fake.stop()
            conn.send(None)
            return
        conn.send(commands[command](*args))


class Fake:
    def __init__(self, time_scale: float = 1.0) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=fake_child, args=(child, time_scale), daemon=True)
        self._process.start()
        self.url: str = self._conn.recv()

    def __call__(self, command: str, *args: Any) -> Any:
        self._conn.send((command, *args))
        return self._conn.recv()

    def stop(self) -> None:
        self("stop")
        self._process.join(10)


# --------------------------------------------------------------------------- Drumbeat's side


def adapter(fake: Fake, **options: Any) -> HubSpotCRM:
    return HubSpotCRM(TOKEN, base_url=fake.url, allowance=ALLOWANCE, budget_share=SHARE, **options)


def budget_seconds(stats: dict[str, Any], share_left: float) -> float:
    """The least time Drumbeat's budget allows for these requests: searches at its per-second
    limit, and every request within a sync's share of the 10-second window (less the reserve kept
    for people's writes), counted over the window's 5% margin."""
    per_window = math.floor(SHARE * ALLOWANCE * share_left)
    background = per_window - max(1, math.ceil(RESERVE * per_window))
    window = 10 * WINDOW_MARGIN
    return max(stats["searches"] / SEARCH_REQUESTS_PER_SECOND, stats["requests"] * window / background)


def timed_sync(crm: HubSpotCRM, database_url: str, *, full: bool) -> tuple[float, str | None]:
    engine = create_db_engine(database_url)
    try:
        started = time.monotonic()
        try:
            sync_mirror(crm, session_factory(engine), now=datetime.now(UTC), full=full)
        except CrmError as exc:
            return time.monotonic() - started, str(exc)
        return time.monotonic() - started, None
    finally:
        engine.dispose()


def fresh_sqlite(tmp: Path, name: str) -> str:
    url = f"sqlite:///{tmp / name}"
    engine = create_db_engine(url)
    migrate(engine)
    engine.dispose()
    return url


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def first_and_incremental(fake: Fake, tmp: Path, deals: int) -> list[str]:
    lines = []
    url = fresh_sqlite(tmp, "first.db")
    crm = adapter(fake)
    fake("reset")
    seconds, failed = timed_sync(crm, url, full=True)
    stats = fake("stats", 10.0)
    allowed = budget_seconds(stats, 1.0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    most = math.ceil(deals / SEARCH_PAGE_SIZE) + 10
    lines.append(
        f"First sync of {deals:,} deals: {stats['requests']} requests ({stats['searches']} searches), "
    )
    lines[-1] += f"{seconds:.1f} s against {allowed:.1f} s the budget allows, {stats['refused']} answered 429"
    lines.append(
        f"  {verdict(failed is None and stats['requests'] <= most)}  requests <= ceil(N/200)+10 = {most}"
    )
    ratio = seconds / allowed
    lines.append(f"  {verdict(ratio <= TARGET_TIME_RATIO)}  wall time / budget time = {ratio:.2f} (<= 1.2)")
    lines.append(f"  {verdict(rss <= TARGET_RSS_MB)}  peak RSS {rss:.0f} MB (<= {TARGET_RSS_MB} MB)")
    if failed:
        lines.append(f"  FAIL  the sync gave up: {failed}")

    fake("touch", CHANGES)
    fake("reset")
    seconds, failed = timed_sync(crm, url, full=False)
    stats = fake("stats", 10.0)
    lines.append(
        f"Incremental sync after {CHANGES} changes (one every {CHANGE_EVERY.seconds} s of CRM time): "
        f"{stats['requests']} requests, {seconds:.1f} s{f', failed: {failed}' if failed else ''}"
    )
    fake("reset")
    seconds, failed = timed_sync(crm, url, full=False)
    stats = fake("stats", 10.0)
    lines.append(f"Incremental sync after none: {stats['requests']} request(s), {seconds:.2f} s")
    lines.append(f"  {verdict(stats['requests'] == 1 and failed is None)}  nothing changed: 1 request")
    return lines


def busy_portal(fake: Fake, tmp: Path, deals: int) -> list[str]:
    url = fresh_sqlite(tmp, "busy.db")
    fake("set", "other_integration_share", OTHERS)
    fake("set", "enforce_rate_limit", True)
    fake("set", "search_in_window", True)  # the worst case: searches count in the portal's window
    fake("reset")
    seconds, failed = timed_sync(adapter(fake), url, full=True)
    stats = fake("stats", 10.0)
    for name, value in (("other_integration_share", 0.0), ("enforce_rate_limit", False)):
        fake("set", name, value)
    fake("set", "search_in_window", False)
    allowed = budget_seconds(stats, 1 - OTHERS)
    share = stats["refused"] / max(stats["requests"], 1)
    return [
        f"First sync of {deals:,} deals, another integration using {OTHERS:.0%} of every window "
        f"(searches counted in it): {stats['requests']} requests, {stats['refused']} answered 429, "
        f"{seconds:.1f} s against {allowed:.1f} s the budget allows, busiest 10 s: {stats['busiest']}",
        f"  {verdict(share <= TARGET_429_SHARE)}  {share:.1%} answered 429 (<= 5%)",
        f"  {verdict(failed is None)}  never gave up{f': {failed}' if failed else ''}",
    ]


def replicas(postgres_url: str | None) -> list[str]:
    if postgres_url is None:
        return ["Replicas: SKIP (no --postgres-url and no DRUMBEAT_TEST_DATABASE_URL)"]
    from benchmarks.digest import fresh_database
    from integrations.shared_window import SharedWindow

    fake = Fake(time_scale=REPLICA_TIME_SCALE)
    try:
        fake("set", "enforce_rate_limit", True)
        fake("seed", 10)
        deal_ids: list[str] = fake("ids", 10)
        with fresh_database(postgres_url) as url:
            migrate_engine = create_db_engine(url)
            migrate(migrate_engine)
            migrate_engine.dispose()
            engines = [create_db_engine(url) for _ in range(REPLICAS)]
            crms = [adapter(fake, call_window=SharedWindow(session_factory(e))) for e in engines]
            for crm in crms:
                crm.get_deal(deal_ids[0])  # each learns the window's length from HubSpot's headers
            fake("reset")
            started = time.monotonic()

            def work(crm: HubSpotCRM, calls: int) -> None:
                for i in range(calls):
                    crm.get_deal(deal_ids[i % len(deal_ids)])

            threads = [
                threading.Thread(target=work, args=(crm, REPLICA_CALLS // 4))
                for crm in crms
                for _ in range(4)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            seconds = time.monotonic() - started
            for engine in engines:
                engine.dispose()
        stats = fake("stats", 10.0 / REPLICA_TIME_SCALE)
    finally:
        fake.stop()
    share = math.floor(SHARE * ALLOWANCE)
    return [
        f"{REPLICAS} replicas on one PostgreSQL ({REPLICA_CALLS} reads each, 4 threads each, the fake's "
        f"10-second window scaled to {10 / REPLICA_TIME_SCALE:g} s): {stats['requests']} requests in "
        f"{seconds:.1f} s, busiest window {stats['busiest']}, {stats['refused']} answered 429",
        f"  {verdict(stats['busiest'] <= share)}  combined requests per window <= {share} (the share)",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync", description=__doc__)
    parser.add_argument("--deals", type=int, default=100_000, help="deals in the portal (100,000)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("DRUMBEAT_TEST_DATABASE_URL"),
        help="PostgreSQL server for the replicas (a fresh database is made and dropped)",
    )
    parser.add_argument("--skip-busy", action="store_true", help="leave out the busy-portal sync")
    parser.add_argument("--replicas-only", action="store_true", help="only the three replicas")
    args = parser.parse_args(argv)
    print(f"machine: {os.cpu_count()} CPUs (nproc), Python {platform.python_version()}, {platform.system()}")
    if not args.replicas_only:
        syncs(args)
    for line in replicas(args.postgres_url):
        print(line, flush=True)
    return 0


def syncs(args: argparse.Namespace) -> None:
    fake = Fake()
    try:
        fake("seed", args.deals)
        with tempfile.TemporaryDirectory(prefix="drumbeat-bench-", ignore_cleanup_errors=True) as tmp:
            for line in first_and_incremental(fake, Path(tmp), args.deals):
                print(line, flush=True)
            if not args.skip_busy:
                for line in busy_portal(fake, Path(tmp), args.deals):
                    print(line, flush=True)
    finally:
        fake.stop()


if __name__ == "__main__":
    raise SystemExit(main())
