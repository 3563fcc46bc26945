"""The pipeline digest over a big portal: `build_digest` against one plain SQL aggregate over the same deals.

Run from the repo root (see benchmarks/README.md)::

    .venv/bin/python -m benchmarks.digest [--deals N] [--weeks N] [--repeat N] [--database-url URL]

Generates (seeded, so every run has the same data) a mirror of `--deals` deals and `--weeks` weeks of
pipeline history in a fresh SQLite file, or a fresh PostgreSQL database on the server `--database-url`
names, then measures the digest. Exits 0 when both targets pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, false, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.db import create_db_engine, migrate, normalize_url, session_factory
from core.models import Base
from rituals.digest import DealScope, PipelineDigest, build_digest

DEALS = 100_000
WEEKS = 26
REPEAT = 9
SEED = 20260302
OWNERS = 50
# A fixed "now" (Monday 2 March 2026, 08:00 in Paris), so every run digests the same week.
NOW = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Paris")
COMPARE_DAYS = 7
STALE_AFTER_DAYS = 14
TARGET_RATIO = 5.0  # build_digest <= 5 x one plain aggregate over crm_deals
PROFILE_ABOVE = 3.0  # ratio above which the cProfile of one build is printed
MEMORY_LIMIT_MB = 300.0
TICK = timedelta(minutes=15)  # the sync interval: history rows start on it
MEAN_GAP = timedelta(weeks=5)  # a deal's tracked state changes about once every 5 weeks
CLOSED_SHARE = 0.2
EUR_SHARE = 0.9
RENEWALS_SHARE = 0.2
NO_AMOUNT_SHARE = 0.03
NO_NEXT_STEP_SHARE = 0.25
BEFORE_WINDOW = timedelta(days=365)  # deals were created up to this long before the history window
SNOOZES = 500  # open deals snoozed (worked out one by one by the digest)
AUDIT_ENTRIES = 5_000  # changes made through Drumbeat in the last 30 days (the stale rule reads them)
CHUNK = 2_000  # deals generated and inserted at a time
ROOT = Path(__file__).resolve().parent.parent
RITUAL_ID = "weekly-digest"
AGGREGATE_SQL = (
    "SELECT pipeline_id, stage_id, currency, count(*), sum(amount) FROM crm_deals "
    "WHERE is_closed = false GROUP BY pipeline_id, stage_id, currency"
)


def deal_url(deal_id: str) -> str:
    return f"https://app.hubspot.com/contacts/1/deal/{deal_id}"


# --------------------------------------------------------------------------- the portal


@dataclass(frozen=True, slots=True)
class Stage:
    id: str
    label: str
    probability: float
    is_closed: bool = False
    is_won: bool = False


@dataclass(frozen=True, slots=True)
class Pipeline:
    id: str
    label: str
    stages: tuple[Stage, ...]
    won_share: float

    @property
    def open(self) -> tuple[Stage, ...]:
        return tuple(s for s in self.stages if not s.is_closed)

    @property
    def won(self) -> Stage:
        return next(s for s in self.stages if s.is_won)

    @property
    def lost(self) -> Stage:
        return next(s for s in self.stages if s.is_closed and not s.is_won)


SALES = Pipeline(
    "default",
    "Sales Pipeline",
    (
        Stage("appointmentscheduled", "Appointment Scheduled", 0.2),
        Stage("qualifiedtobuy", "Qualified To Buy", 0.4),
        Stage("presentationscheduled", "Presentation Scheduled", 0.6),
        Stage("decisionmakerboughtin", "Decision Maker Bought-In", 0.8),
        Stage("contractsent", "Contract Sent", 0.9),
        Stage("closedwon", "Closed Won", 1.0, True, True),
        Stage("closedlost", "Closed Lost", 0.0, True, False),
    ),
    won_share=0.45,
)
RENEWALS = Pipeline(
    "renewals",
    "Renewals",
    (
        Stage("renewal-due", "Renewal due", 0.5),
        Stage("renewal-negotiation", "Negotiation", 0.75),
        Stage("renewal-signed", "Renewed", 1.0, True, True),
        Stage("renewal-churned", "Churned", 0.0, True, False),
    ),
    won_share=0.8,
)
PIPELINES = (SALES, RENEWALS)
FIRST_NAMES = ("Alice", "Bruno", "Chloé", "David", "Emma", "Farid", "Greta", "Hugo", "Inès", "Jonas")
LAST_NAMES = ("Martin", "Costa", "Dubois", "Okafor")
TEAMS = ({"id": "11", "name": "EMEA"}, {"id": "12", "name": "North America"}, {"id": "13", "name": "DACH"})
COMPANIES = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Hooli",
    "Stark Industries",
    "Wayne Logistics",
    "Tyrell",
    "Soylent",
    "Cyberdyne",
    "Nimbus Cloud",
    "Helix Robotics",
)
PRODUCTS = ("Platform licence", "Pilot", "Expansion", "Support plan", "Onboarding", "Data add-on")
NEXT_STEPS = ("Send proposal", "Call with procurement", "Demo to the CFO", "Security review", "Sign")
LOST_REASONS = ("Price", "Went with a competitor", "No budget", "No decision", None)


def owner_ids() -> list[str]:
    return [str(70_000_000 + n) for n in range(OWNERS)]


def owner_rows() -> list[dict[str, Any]]:
    rows = []
    for n, owner_id in enumerate(owner_ids()):
        first, last = FIRST_NAMES[n % len(FIRST_NAMES)], LAST_NAMES[n // len(FIRST_NAMES) % len(LAST_NAMES)]
        rows.append(
            {
                "id": owner_id,
                "email": f"{first.lower()}.{last.lower()}{n}@example.com",
                "first_name": first,
                "last_name": f"{last} {n}",
                "archived": False,
                "teams": [TEAMS[n % len(TEAMS)]],
            }
        )
    return rows


def pipeline_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    pipelines = [{"id": p.id, "label": p.label, "display_order": n} for n, p in enumerate(PIPELINES)]
    stages = [
        {
            "pipeline_id": p.id,
            "id": s.id,
            "label": s.label,
            "display_order": n,
            "probability": s.probability,
            "is_closed": s.is_closed,
            "is_won": s.is_won,
        }
        for p in PIPELINES
        for n, s in enumerate(p.stages)
    ]
    return pipelines, stages


def _tick(moment: datetime) -> datetime:
    """The sync that saw a change: the start of its 15-minute slot (NOW is on the grid)."""
    return NOW + TICK * ((moment - NOW) // TICK)


def _money(value: float) -> Decimal:
    return Decimal(max(500, round(value, -2))).quantize(Decimal(1))


@dataclass(frozen=True, slots=True)
class State:
    stage: Stage
    amount: Decimal | None
    close_date: date | None
    owner_id: str


def generate_deal(
    n: int, rng: random.Random, owners: Sequence[str], window_start: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One deal: its mirror row and its history rows (the last one is the mirror's state, still current)."""
    pipeline = RENEWALS if rng.random() < RENEWALS_SHARE else SALES
    deal_id = str(10_000_000_000 + n)
    currency = "EUR" if rng.random() < EUR_SHARE else "USD"
    lifetime = (NOW - window_start + BEFORE_WINDOW).total_seconds()
    created = _tick(NOW - timedelta(seconds=rng.uniform(TICK.total_seconds(), lifetime)))
    start = max(created, window_start)
    close_at: datetime | None = None
    if rng.random() < CLOSED_SHARE:
        close_at = _tick(created + (NOW - created) * rng.uniform(0.05, 1.0))
        if not created < close_at < NOW:
            close_at = None
    open_stages = pipeline.open
    first_stage = rng.choice((0, 0, 1)) if created >= window_start else rng.randrange(len(open_stages))
    amount = None if rng.random() < NO_AMOUNT_SHARE else _money(rng.lognormvariate(9.6, 0.9))
    first_close = max(NOW.date() + timedelta(days=rng.randint(-75, 100)), start.date() + timedelta(days=14))
    state = State(open_stages[first_stage], amount, first_close, rng.choice(owners))
    lost_reason: str | None = None

    def closed(at: datetime) -> State:
        nonlocal lost_reason
        won = rng.random() < pipeline.won_share
        lost_reason = None if won else rng.choice(LOST_REASONS)
        return State(pipeline.won if won else pipeline.lost, state.amount, at.date(), state.owner_id)

    if close_at is not None and close_at <= start:  # closed before the window opened
        state = closed(close_at)
    states = [(start, state)]
    moment = start
    while not state.stage.is_closed:
        moment = max(_tick(moment + MEAN_GAP * rng.expovariate(1.0)), states[-1][0] + TICK)
        if close_at is not None and close_at <= moment:
            at = max(close_at, states[-1][0] + TICK)
            if at < NOW:
                state = closed(at)
                states.append((at, state))
            break
        if moment >= NOW:
            break
        state = change(state, open_stages, owners, rng)
        states.append((moment, state))

    history = [
        {
            "deal_id": deal_id,
            "valid_from": valid_from,
            "valid_to": states[k + 1][0] if k + 1 < len(states) else None,
            "pipeline_id": pipeline.id,
            "stage_id": s.stage.id,
            "amount": s.amount,
            "currency": currency,
            "close_date": s.close_date,
            "owner_id": s.owner_id,
            "is_closed": s.stage.is_closed,
            "is_won": s.stage.is_won,
        }
        for k, (valid_from, s) in enumerate(states)
    ]
    last_change = states[-1][0]
    activity = max(created, NOW - timedelta(seconds=rng.uniform(0, 90 * 86400)))
    renewal = pipeline is RENEWALS
    name = f"{rng.choice(COMPANIES)} #{n} — {'Renewal' if renewal else rng.choice(PRODUCTS)}"
    mirror = {
        "id": deal_id,
        "name": name,
        "owner_id": state.owner_id,
        "pipeline_id": pipeline.id,
        "stage_id": state.stage.id,
        "amount": state.amount,
        "currency": currency,
        "close_date": state.close_date,
        "next_step": None if rng.random() < NO_NEXT_STEP_SHARE else rng.choice(NEXT_STEPS),
        "last_activity_at": activity,
        "last_modified_at": max(last_change, activity),
        "created_at": created,
        "is_closed": state.stage.is_closed,
        "is_won": state.stage.is_won,
        "closed_lost_reason": lost_reason,
        "synced_at": NOW,
        "person_changed_at": last_change if len(states) > 1 else None,
    }
    return mirror, history


def change(state: State, open_stages: Sequence[Stage], owners: Sequence[str], rng: random.Random) -> State:
    """One tracked change of an open deal: a stage move, an amount change, a close date push, an owner."""
    kind = rng.random()
    if kind < 0.45:
        at = open_stages.index(state.stage)
        step = 1 if rng.random() < 0.7 else -1
        if not 0 <= at + step < len(open_stages):
            step = -step
        return State(open_stages[at + step], state.amount, state.close_date, state.owner_id)
    if kind < 0.75:
        amount = _money((float(state.amount) if state.amount else 10_000) * rng.uniform(0.6, 1.4))
        if amount == state.amount:
            amount += 100
        return State(state.stage, amount, state.close_date, state.owner_id)
    if kind < 0.95:
        pushed = (state.close_date or NOW.date()) + timedelta(days=rng.randint(7, 45))
        return State(state.stage, state.amount, pushed, state.owner_id)
    owner = rng.choice([o for o in owners if o != state.owner_id])
    return State(state.stage, state.amount, state.close_date, owner)


@dataclass
class Generated:
    deals: int = 0
    history: int = 0
    changed_last_week: int = 0
    open_deals: int = 0
    snoozes: int = 0
    audit: int = 0
    seconds: float = 0.0


def generate(engine: Engine, deals: int, weeks: int, seed: int) -> Generated:
    """Fill the mirror and the history (SQLAlchemy Core executemany, CHUNK deals at a time)."""
    began = time.perf_counter()
    rng = random.Random(seed)
    tables = Base.metadata.tables
    window_start = NOW - timedelta(weeks=weeks)
    week_ago = NOW - timedelta(days=COMPARE_DAYS)
    owners = owner_ids()
    out = Generated()
    open_ids: list[str] = []
    pipelines, stages = pipeline_rows()
    with engine.begin() as connection:
        connection.execute(insert(tables["crm_owners"]), owner_rows())
        connection.execute(insert(tables["crm_pipelines"]), pipelines)
        connection.execute(insert(tables["crm_stages"]), stages)
        for first in range(0, deals, CHUNK):
            mirror: list[dict[str, Any]] = []
            history: list[dict[str, Any]] = []
            for n in range(first, min(first + CHUNK, deals)):
                deal, rows = generate_deal(n, rng, owners, window_start)
                mirror.append(deal)
                history.extend(rows)
                out.changed_last_week += rows[-1]["valid_from"] > week_ago
                if not deal["is_closed"]:
                    open_ids.append(deal["id"])
            connection.execute(insert(tables["crm_deals"]), mirror)
            connection.execute(insert(tables["deal_history"]), history)
            out.deals += len(mirror)
            out.history += len(history)
        out.open_deals = len(open_ids)
        snoozed = rng.sample(open_ids, min(SNOOZES, len(open_ids)))
        if snoozed:
            connection.execute(insert(tables["snoozes"]), [_snooze(deal_id, rng) for deal_id in snoozed])
        audited = [rng.choice(open_ids) for _ in range(AUDIT_ENTRIES)] if open_ids else []
        if audited:
            connection.execute(insert(tables["audit_log"]), [_audit(deal_id, rng) for deal_id in audited])
        out.snoozes, out.audit = len(snoozed), len(audited)
    out.seconds = time.perf_counter() - began
    return out


def _snooze(deal_id: str, rng: random.Random) -> dict[str, Any]:
    snoozed_at = NOW - timedelta(days=rng.uniform(1, 40))
    return {
        "deal_id": deal_id,
        "until": (snoozed_at + timedelta(days=rng.choice((7, 14, 30)))).date(),
        "reason": rng.choice(("waiting on legal", "budget in Q2", None)),
        "snoozed_by": "U0ALICE",
        "snoozed_at": snoozed_at,
        "touched_before": snoozed_at - timedelta(days=rng.uniform(0, 30)),
    }


def _audit(deal_id: str, rng: random.Random) -> dict[str, Any]:
    return {
        "at": NOW - timedelta(days=rng.uniform(0, 30)),
        "slack_user": "U0ALICE",
        "deal_id": deal_id,
        "field": rng.choice(("stage", "amount", "close_date", "next_step", "note")),
        "old_value": "a",
        "new_value": "b",
        "source": "slash",
        "outbox_id": None,
    }


# --------------------------------------------------------------------------- databases


def _libpq(url: str) -> str:
    return normalize_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def fresh_database(database_url: str | None) -> Iterator[str]:
    """A fresh SQLite file in a temporary directory; a fresh PostgreSQL database (dropped afterwards) on
    the server a postgresql:// URL names; any other URL as given (it must be empty)."""
    if database_url is None:
        with tempfile.TemporaryDirectory(prefix="drumbeat-bench-", ignore_cleanup_errors=True) as tmp:
            yield f"sqlite:///{Path(tmp) / 'digest.db'}"
        return
    if not normalize_url(database_url).startswith("postgresql+psycopg://"):
        yield database_url
        return
    import psycopg

    name = f"drumbeat_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(database_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(normalize_url(database_url)).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(database_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def describe_database(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        return "SQLite file (WAL), no ANALYZE (Drumbeat runs none)"
    version = engine.dialect.server_version_info or ()
    shown = ".".join(str(v) for v in version[:2])
    return f"PostgreSQL {shown}, VACUUM ANALYZE after the load (autovacuum's job in production)"


def settle(engine: Engine) -> None:
    """After the bulk load: PostgreSQL gets the statistics autovacuum would have gathered by now."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))


# --------------------------------------------------------------------------- measuring


def build(sessions: sessionmaker[Session]) -> PipelineDigest:
    """One digest, in a new session, exactly as the ritual asks for it."""
    with sessions() as session:
        return build_digest(
            session,
            ritual_id=RITUAL_ID,
            scope=DealScope(),
            now=NOW,
            local_now=NOW.astimezone(ZONE),
            compare_days=COMPARE_DAYS,
            stale_after_days=STALE_AFTER_DAYS,
            deal_url=deal_url,
        )


def aggregate(engine: Engine) -> list[Any]:
    """The plain SQL baseline: open deals and amount per pipeline, stage and currency."""
    deals = Base.metadata.tables["crm_deals"]
    query = (
        select(
            deals.c.pipeline_id, deals.c.stage_id, deals.c.currency, func.count(), func.sum(deals.c.amount)
        )
        .where(deals.c.is_closed == false())
        .group_by(deals.c.pipeline_id, deals.c.stage_id, deals.c.currency)
    )
    with engine.connect() as connection:
        return list(connection.execute(query).all())


def timed(work: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds of each of `repeat` runs."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        work()
        times.append((time.perf_counter() - began) * 1000)
    return times


def traced_peak(work: Callable[[], object]) -> float:
    """tracemalloc's peak (MB) of Python allocations during one run."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(database_url: str) -> None:
    """In a fresh process: RSS just before one build, and the process's peak RSS (ru_maxrss) after it."""
    engine = create_db_engine(database_url)
    sessions = session_factory(engine)
    with engine.connect() as connection:  # the driver loaded and a connection open, as in the bot
        connection.execute(text("SELECT 1"))
    gc.collect()
    before = _rss_kb()
    digest = build(sessions)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux
    engine.dispose()
    print(json.dumps({"rss_before_kb": before, "peak_kb": peak, "changes": digest.change_count}))


@dataclass(frozen=True, slots=True)
class ChildMemory:
    rss_before_mb: float
    peak_mb: float

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.rss_before_mb


def child_memory(database_url: str) -> ChildMemory:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.digest", "--memory-child", "--database-url", database_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"the memory child failed:\n{done.stderr[-3000:]}")
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return ChildMemory(found["rss_before_kb"] / 1024, found["peak_kb"] / 1024)


def replay_sql(engine: Engine, sessions: sessionmaker[Session]) -> None:
    """build_digest's statements, captured from one build and replayed on the bare driver (best of 3)."""
    from sqlalchemy import event

    seen: list[tuple[str, Any]] = []
    callers: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        seen.append((statement, parameters))
        callers.append(_caller())

    event.listen(engine, "before_cursor_execute", record)
    try:
        build(sessions)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    postgres = engine.dialect.name == "postgresql"
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()

        def best(statement: str, parameters: Any) -> tuple[float, int]:
            times, rows = [], 0
            for _ in range(3):
                began = time.perf_counter()
                cursor.execute(statement, parameters)
                # A SET (jit off) returns no rows: fetching from it is an error.
                rows = len(cursor.fetchall()) if cursor.description is not None else 0
                times.append((time.perf_counter() - began) * 1000)
            return min(times), rows

        timings = [best(statement, parameters) for statement, parameters in seen]
        no_jit: list[float] = []
        if postgres:
            cursor.execute("SET jit = off")
            no_jit = [best(statement, parameters)[0] for statement, parameters in seen]
        raw.rollback()
    finally:
        raw.close()
    extra = f" {'jit off':>8}" if postgres else ""
    print(
        f"\nbuild_digest's {len(seen)} SQL statements replayed on the bare driver "
        "(execute + fetchall, best of 3):"
    )
    print(f"  {'ms':>8}{extra} {'rows':>7}  {'sent by':<34} statement")
    for n, ((statement, _), (ms, rows)) in enumerate(zip(seen, timings, strict=True)):
        jit = f" {no_jit[n]:8.1f}" if postgres else ""
        print(f"  {ms:8.1f}{jit} {rows:>7,}  {callers[n]:<34} {' '.join(statement.split())[:44]}")
    total = sum(ms for ms, _ in timings)
    jit_total = f" ({sum(no_jit):.0f} ms with jit = off)" if postgres else ""
    print(f"  {total:8.1f} ms in all{jit_total}: the rest of a build is Python (ORM rows, types, the digest)")


def _caller() -> str:
    """The innermost Drumbeat function (not this benchmark) on the stack: who sent a statement."""
    frame = sys._getframe(1)
    here = str(Path(__file__).resolve())
    while frame is not None:
        path = frame.f_code.co_filename
        if path.startswith(str(ROOT)) and f"{os.sep}.venv{os.sep}" not in path and path != here:
            return f"{Path(path).stem}.{frame.f_code.co_name}"
        frame = frame.f_back  # type: ignore[assignment]
    return "?"


def print_profile(sessions: sessionmaker[Session], top: int = 15) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    build(sessions)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    print(
        f"\ncProfile of one build_digest ({total * 1000:.0f} ms under the profiler), top {top} by own time:"
    )
    print(f"  {'own ms':>8} {'cum ms':>8} {'calls':>9}  function")
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    ranked = sorted(entries.items(), key=lambda kv: -kv[1][2])[:top]
    for (path, line, name), (_, calls, own, cumulative, _) in ranked:
        print(f"  {own * 1000:8.1f} {cumulative * 1000:8.1f} {calls:9,}  {_where(path, line, name)}")
    print(f"Drumbeat's own functions, top {top} by cumulative time:")
    ours = [
        (key, value)
        for key, value in entries.items()
        if key[0].startswith(str(ROOT)) and f"{os.sep}.venv{os.sep}" not in key[0]
    ]
    for (path, line, name), (_, calls, own, cumulative, _) in sorted(ours, key=lambda kv: -kv[1][3])[:top]:
        print(f"  {own * 1000:8.1f} {cumulative * 1000:8.1f} {calls:9,}  {_where(path, line, name)}")


def _where(path: str, line: int, name: str) -> str:
    if path == "~":
        return name
    if "site-packages" in path:
        path = path.split("site-packages" + os.sep, 1)[1]
    elif path.startswith(str(ROOT)):
        path = path.removeprefix(str(ROOT) + os.sep)
    else:
        path = Path(path).name
    return f"{path}:{line}({name})"


# --------------------------------------------------------------------------- the benchmark


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.digest", description=__doc__)
    parser.add_argument("--deals", type=int, default=DEALS)
    parser.add_argument("--weeks", type=int, default=WEEKS, help="weeks of pipeline history")
    parser.add_argument("--repeat", type=int, default=REPEAT, help="measured runs of each (median)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (a fresh drumbeat_bench_<random> database is made on it and dropped), "
        "or an EMPTY SQLite file, instead of a fresh SQLite file in a temporary directory",
    )
    parser.add_argument(
        "--profile", action="store_true", help="print the cProfile of one build whatever the ratio"
    )
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.database_url)
        return 0
    if args.deals < 1 or args.weeks < 2 or args.repeat < 1:
        parser.error("--deals >= 1, --weeks >= 2 and --repeat >= 1, please")
    began = time.monotonic()
    with fresh_database(args.database_url) as database_url:
        ok = benchmark(database_url, args)
    print(f"total run time {time.monotonic() - began:.0f} s")
    return 0 if ok else 1


def benchmark(database_url: str, args: argparse.Namespace) -> bool:
    engine = create_db_engine(database_url)
    try:
        migrate(engine)
        with engine.connect() as connection:
            if connection.scalar(select(func.count()).select_from(Base.metadata.tables["crm_deals"])):
                raise SystemExit(f"{engine.url.render_as_string()} already has deals: give an empty database")
        return run(engine, database_url, args)
    finally:
        engine.dispose()


def run(engine: Engine, database_url: str, args: argparse.Namespace) -> bool:
    made = generate(engine, args.deals, args.weeks, args.seed)
    settle(engine)
    print(
        f"pipeline digest over {made.deals:,} deals ({made.open_deals:,} open; {len(PIPELINES)} pipelines, "
        f"{OWNERS} owners, EUR/USD), {args.weeks} weeks of history; {describe_database(engine)}"
    )
    print(
        f"generated in {made.seconds:.1f} s (not measured): {made.history:,} history rows "
        f"({made.history / made.deals:.2f} per deal), {made.changed_last_week:,} deals changed in the last "
        f"{COMPARE_DAYS} days; {made.snoozes} snoozes, {made.audit:,} audit entries (seed {args.seed})"
    )

    sessions = session_factory(engine)
    digest = build(sessions)  # warm-up: statement caches, database pages
    rows = aggregate(engine)
    assert digest.change_count > 0, "the digest found no changes: the generated history is wrong"
    # Interleaved, so that both see the same machine (a shared 2-core box drifts by 30 %).
    digest_ms, aggregate_ms = [], []
    for _ in range(args.repeat):
        digest_ms += timed(lambda: build(sessions), 1)
        aggregate_ms += timed(lambda: aggregate(engine), 1)
    ratio = statistics.median(digest_ms) / statistics.median(aggregate_ms)

    listed = sum(len(g.deals) for g in digest.changes)
    groups = ", ".join(f"{g.kind} {g.count:,}" for g in digest.changes)
    reasons = ", ".join(f"{r} {n:,}" for r, n in digest.decisions.by_reason.items())
    print(
        f"the digest found: {digest.change_count:,} changes ({groups}; {listed:,} listed); "
        f"{digest.decisions.total:,} deals needing a decision ({reasons}; "
        f"{len(digest.decisions.deals)} listed)"
    )
    open_deals = sum(p.deals for p in digest.pipelines)
    print(
        f"  since {digest.since:%Y-%m-%d %H:%M %Z}; {open_deals:,} open deals in {len(digest.pipelines)} "
        f"pipeline tables; the aggregate returned {len(rows)} rows"
    )
    print(f"{'':<22} {'median':>9} {'min':>9} {'max':>9}   ({args.repeat} runs each, after 1 warm-up)")
    for label, times in (("build_digest", digest_ms), ("plain SQL aggregate", aggregate_ms)):
        print(f"{label:<22} {statistics.median(times):>7.1f}ms {min(times):>7.1f}ms {max(times):>7.1f}ms")
    time_ok = ratio <= TARGET_RATIO
    print(
        f"{'PASS' if time_ok else 'FAIL'}  build_digest / plain aggregate = {ratio:.1f}x "
        f"(target <= {TARGET_RATIO:.0f}x)"
    )

    traced = traced_peak(lambda: build(sessions))
    child = child_memory(database_url)
    judged = max(traced, child.growth_mb)
    memory_ok = judged < MEMORY_LIMIT_MB
    print(
        f"memory of one build: tracemalloc peak {traced:.1f} MB (Python allocations, this process, warm); "
        f"fresh subprocess, first build: RSS {child.rss_before_mb:.0f} MB before, peak RSS (ru_maxrss) "
        f"{child.peak_mb:.0f} MB, growth {child.growth_mb:.1f} MB"
    )
    print(
        f"{'PASS' if memory_ok else 'FAIL'}  peak memory of a build {judged:.1f} MB, the larger of the two "
        f"(target < {MEMORY_LIMIT_MB:.0f} MB)"
    )

    from core.i18n import translator
    from handlers.reports import render_digest
    from rituals.manager_rituals import digest_chart

    t = translator("en")
    chart = digest_chart(digest, t=t)  # warm-up: matplotlib and its fonts
    post = render_digest(digest, t=t)
    chart_ms = timed(lambda: digest_chart(digest, t=t), args.repeat)
    render_ms = timed(lambda: render_digest(digest, t=t), args.repeat)
    print(
        f"informational (median of {args.repeat}): digest_chart {statistics.median(chart_ms):.1f} ms "
        f"({len(chart.png) / 1024:.0f} KB PNG), render_digest {statistics.median(render_ms):.2f} ms "
        f"({len(post.message.blocks)} blocks, {len(post.thread)} thread replies)"
    )

    if ratio > PROFILE_ABOVE or args.profile:
        replay_sql(engine, sessions)
        print_profile(sessions)
    return time_ok and memory_ok


if __name__ == "__main__":
    sys.exit(main())
