"""Ack latency of `/deal` updates: Drumbeat against a bare Bolt app on the same waitress setup.

Run from the repo root (see benchmarks/README.md)::

    .venv/bin/python -m benchmarks.ack_latency [--mode subprocess|inprocess] [--profile]

The fake HubSpot (every call takes CRM_LATENCY seconds) and the fake Slack run in this process;
each app server runs in its own child process (`--mode subprocess`, the default) or in this one.
Always exits 0: it prints PASS/FAIL against the targets, it does not enforce them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import Any

from bot.slack_app import LISTENER_THREADS

REQUESTS = 200
CONCURRENCY = 20
UNLOADED = 20  # then one client alone: the ack time without contention (reported, not judged)
DRAIN = 20.0  # seconds to let the worker apply updates after the load, before counting
CRM_LATENCY = 2.0  # seconds, every fake HubSpot call
ACK_LIMIT_MS = 3000.0  # Slack drops a slash command not acknowledged within 3 s
TARGET_RATIO = 1.5  # Drumbeat p99 <= 1.5 x bare Bolt p99
USER = "U0ALICE"
SIGNING_SECRET = "bench-signing-secret-1234567890abcdef"
BOT_TOKEN = "xoxb-bench-token"
HUBSPOT_TOKEN = "pat-bench-token"
# An update is stored as typed before the ack ("Working on it"), then checked and queued for the CRM.
ACKED_MARK = "Working on it"
ROOT = Path(__file__).resolve().parent.parent
WAITRESS_THREADS = 16  # what `drumbeat serve` runs (HttpServer's default), for both apps
SAMPLE_EVERY = 0.002  # seconds between stack samples with --profile


# --------------------------------------------------------------------------- the servers


def build_server(kind: str, spec: dict[str, Any]) -> tuple[Any, Callable[[], None]]:
    """Drumbeat's real app (real factories, outbox worker running) or a bare Bolt app."""
    from bot.server import HttpServer

    if kind == "drumbeat":
        from bot.services import build_services, build_slack_client
        from bot.settings import load_settings
        from bot.slack_app import create_runtime

        settings = load_settings(env_file=None, **spec["settings"])
        services = build_services(settings)
        runtime = create_runtime(services, build_slack_client(settings))
        server = HttpServer(runtime.web_app(services), host="127.0.0.1", port=0, threads=WAITRESS_THREADS)
        runtime.start_workers()

        def close() -> None:
            server.stop()
            # The worker finishes its in-flight CRM calls (2 s each) before stopping: don't wait.
            threading.Thread(target=runtime.stop_workers, daemon=True).start()

        return server, close
    if kind == "bare":
        server = HttpServer(bare_wsgi_app(spec), host="127.0.0.1", port=0, threads=WAITRESS_THREADS)
        return server, server.stop
    raise ValueError(f"unknown server kind {kind!r}")


def bare_wsgi_app(spec: dict[str, Any]) -> Callable[..., Iterable[bytes]]:
    """A bare Bolt app whose `/deal` listener only acks, behind bot/web.py's steps minus the replay guard."""
    from slack_bolt import App, BoltRequest
    from slack_sdk import WebClient
    from slack_sdk.signature import SignatureVerifier

    app = App(
        signing_secret=spec["signing_secret"],
        token_verification_enabled=False,
        client=WebClient(token=spec["bot_token"], base_url=spec["slack_api_url"], timeout=15),
        # Same listener pool as Drumbeat, so both queue (or not) the same way.
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener"),
    )

    @app.command("/deal")
    def deal(ack: Any) -> None:
        ack(text="ok")

    verifier = SignatureVerifier(spec["signing_secret"])

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/slack/events" or environ.get("REQUEST_METHOD") != "POST":
            start_response("404 Not Found", [("Content-Length", "0")])
            return [b""]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = (environ["wsgi.input"].read(length) if length else b"").decode("utf-8", "replace")
        headers: dict[str, Any] = {
            k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = str(environ["CONTENT_TYPE"])
        timestamp = str(headers.get("x-slack-request-timestamp", ""))
        signature = str(headers.get("x-slack-signature", ""))
        if not timestamp.isdigit() or not verifier.is_valid(
            body=body, timestamp=timestamp, signature=signature
        ):
            start_response("401 Unauthorized", [("Content-Length", "0")])
            return [b""]
        response = app.dispatch(
            BoltRequest(body=body, query=environ.get("QUERY_STRING", ""), headers=headers)
        )
        out_headers = [(k, v) for k, values in response.headers.items() for v in values]
        payload = response.body.encode("utf-8") if isinstance(response.body, str) else response.body
        start_response(
            f"{response.status} {HTTPStatus(response.status).phrase}",
            [*out_headers, ("Content-Length", str(len(payload)))],
        )
        return [payload]

    return wsgi


class StackSampler:
    """A poor man's py-spy: wall-clock stack samples of the threads answering Slack requests.

    Only threads busy in repo code count (idle pool threads are skipped). Weights are the real time
    between sweeps, so totals are thread-seconds.
    """

    def __init__(self, interval: float = SAMPLE_EVERY) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self.total: Counter[str] = Counter()
        self.inclusive: dict[str, Counter[str]] = defaultdict(Counter)
        self.sites: dict[str, Counter[str]] = defaultdict(Counter)

    def start(self) -> StackSampler:
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        return {
            "total": dict(self.total),
            "inclusive": {k: dict(v) for k, v in self.inclusive.items()},
            "sites": {k: dict(v) for k, v in self.sites.items()},
        }

    def _run(self) -> None:
        root = str(ROOT) + os.sep
        venv = str(Path(sys.prefix).resolve()) + os.sep
        last = time.perf_counter()
        while not self._stop.wait(self._interval):
            now = time.perf_counter()
            weight, last = now - last, now
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                name = names.get(ident, "")
                kind = "waitress" if name.startswith("waitress") else "listener" if "listener" in name else ""
                if not kind:
                    continue
                stack = list(_frames(frame))
                ours = [
                    f
                    for f in stack
                    if f.f_code.co_filename.startswith(root) and not f.f_code.co_filename.startswith(venv)
                ]
                if not ours:
                    continue  # idle in the pool
                self.total[kind] += weight
                seen: set[str] = set()
                for f in stack:
                    key = _where(f, root, line=False)
                    if key not in seen:
                        seen.add(key)
                        self.inclusive[kind][key] += weight
                site = f"{_where(ours[0], root, line=True)} -> {_where(stack[0], root, line=True)}"
                self.sites[kind][site] += weight


def _frames(frame: FrameType | None) -> Iterable[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def _where(frame: FrameType, root: str, *, line: bool) -> str:
    path = frame.f_code.co_filename
    path = path.removeprefix(root)
    if "site-packages" in path:
        path = path.split("site-packages" + os.sep, 1)[1]
    elif path.startswith((sys.prefix, sys.base_prefix)):
        path = "stdlib/" + Path(path).name
    suffix = f":{frame.f_lineno}" if line else ""
    return f"{path}:{frame.f_code.co_qualname}{suffix}"


def serve_child(kind: str, spec: dict[str, Any]) -> None:
    """Child process: serve, print the port, then answer `measure` / `done` / `stop` lines on stdin."""
    if kind == "drumbeat":
        from bot.logs import configure_logging

        configure_logging("text", [SIGNING_SECRET, BOT_TOKEN, HUBSPOT_TOKEN])  # as `drumbeat serve`
    server, close = build_server(kind, spec)
    server.start()
    print(f"PORT {server.port}", flush=True)
    sampler: StackSampler | None = None
    cpu = 0.0
    for line in sys.stdin:
        command = line.strip()
        if command == "measure":
            cpu = time.process_time()
            if spec.get("profile_path"):
                sampler = StackSampler().start()
            print("OK", flush=True)
        elif command == "done":
            cpu = time.process_time() - cpu
            if sampler is not None:
                Path(spec["profile_path"]).write_text(json.dumps(sampler.stop()))
                sampler = None
            print(f"CPU {cpu}", flush=True)
        elif command == "stop":
            break
    close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # daemon threads (the worker mid-CRM-call) are not waited for


@dataclass
class ChildServer:
    process: subprocess.Popen[str]
    url: str
    log: Path

    def send(self, command: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return "" if command == "stop" else self.process.stdout.readline().strip()

    def stop(self) -> None:
        try:
            self.send("stop")
            self.process.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()


def start_child(kind: str, spec: dict[str, Any], log: Path) -> ChildServer:
    with log.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.ack_latency", "--serve", kind, "--spec", json.dumps(spec)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert process.stdout is not None
    first = process.stdout.readline()
    if not first.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"{kind} server did not start:\n{log.read_text()[-3000:]}")
    return ChildServer(process, f"http://127.0.0.1:{int(first.split()[1])}", log)


# --------------------------------------------------------------------------- the load


@dataclass
class Run:
    app: str
    latencies_ms: list[float] = field(default_factory=list)
    good: int = 0
    first_bad: str | None = None
    warmup_bad: int = 0
    warmup_first_bad: str | None = None
    unloaded_ms: list[float] = field(default_factory=list)
    started: float = 0.0
    cpu_ms: float | None = None  # server process CPU time per measured request

    def pct(self, p: float, values: Sequence[float] | None = None) -> float:
        """Nearest-rank percentile."""
        ordered = sorted(self.latencies_ms if values is None else values)
        return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def drive(
    app: str,
    url: str,
    response_url: Callable[[], str],
    is_good: Callable[[str], bool],
    *,
    requests: int,
    concurrency: int,
    on_measure: Callable[[], None],
    on_done: Callable[[], float | None],
) -> Run:
    """Warm up (one request per client), probe one client alone, then the measured concurrent run."""
    import httpx

    from tests.slack_signing import SlackRequests

    local = threading.local()
    opened: list[httpx.Client] = []
    lock = threading.Lock()

    def send(text: str) -> tuple[float, int, str]:
        slack: SlackRequests | None = getattr(local, "slack", None)
        if slack is None:
            http = httpx.Client(timeout=30)
            with lock:
                opened.append(http)
            slack = local.slack = SlackRequests(
                url, SIGNING_SECRET, client=http, response_url_factory=response_url
            )
        started = time.perf_counter()
        response = slack.slash_command(text, user_id=USER)  # builds, signs, POSTs, reads the ack
        elapsed = (time.perf_counter() - started) * 1000
        slack.sent.clear()
        return elapsed, response.status_code, response.text

    barrier = threading.Barrier(concurrency)

    def warm(i: int) -> tuple[float, int, str]:
        barrier.wait()  # every pool thread takes exactly one warm-up request, all at once
        return send(f"acme corp amount={500 + i}k")

    run = Run(app)
    # Distinct amounts, never the deal's current one: every request is a real change, accepted.
    with ThreadPoolExecutor(concurrency, thread_name_prefix="client") as pool:
        for _, status, body in pool.map(warm, range(concurrency)):
            if status != 200 or not is_good(body):  # not counted, but reported
                run.warmup_bad += 1
                run.warmup_first_bad = run.warmup_first_bad or f"{status} {body[:110]}"
        run.unloaded_ms = [send(f"acme corp amount={300 + i}k")[0] for i in range(UNLOADED)]
        on_measure()
        run.started = time.monotonic()
        texts = [f"acme corp amount={1000 + i}k" for i in range(requests)]
        for elapsed, status, body in pool.map(send, texts):
            run.latencies_ms.append(elapsed)
            if status == 200 and is_good(body):
                run.good += 1
            elif run.first_bad is None:
                run.first_bad = f"{status} {body[:200]}"
        run.cpu_ms = on_done()
    for http in opened:
        http.close()
    return run


# --------------------------------------------------------------------------- the benchmark


RITUALS = """
timezone: Europe/Paris
admins: [U0ADMIN]
people:
  - {crm_owner: "101", slack: U0ALICE, manager: U0MAXIME}
  - {crm_owner: "102", slack: U0BRUNO, manager: U0MAXIME}
deal_command:
  name: /deal
rituals: []
"""


@dataclass
class WorkerState:
    enqueued: int
    done: int
    pending: int
    other: int
    patches: int


def worker_state(database_url: str, hubspot: Any) -> WorkerState:
    from sqlalchemy import func, select

    from bot.db import create_db_engine
    from core.models import OutboxEntry

    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            query = select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status)
            counts: dict[str, int] = {row[0]: row[1] for row in connection.execute(query)}
    finally:
        engine.dispose()
    patches = sum(1 for r in list(hubspot.requests) if r.method == "PATCH")
    done, pending = counts.get("done", 0), counts.get("pending", 0)
    total = sum(counts.values())
    return WorkerState(total, done, pending, total - done - pending, patches)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ack_latency", description=__doc__)
    parser.add_argument("--mode", choices=["subprocess", "inprocess"], default="subprocess")
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument(
        "--drain", type=float, default=DRAIN, help="seconds to watch the worker after the load"
    )
    parser.add_argument("--profile", action="store_true", help="sample Drumbeat's request threads")
    parser.add_argument(
        "--database-url", help="an EMPTY database (e.g. PostgreSQL) instead of a fresh SQLite file"
    )
    parser.add_argument("--serve", choices=["drumbeat", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve_child(args.serve, json.loads(args.spec))
        return 0
    if args.profile and args.mode != "subprocess":
        parser.error("--profile needs --mode subprocess")
    with tempfile.TemporaryDirectory(prefix="drumbeat-bench-", ignore_cleanup_errors=True) as tmp:
        benchmark(Path(tmp), args)
    return 0


def benchmark(tmp: Path, args: argparse.Namespace) -> None:
    import logging
    from datetime import UTC, datetime

    from bot.db import create_db_engine, migrate, session_factory
    from core.mirror.sync import sync_mirror
    from integrations.hubspot import HubSpotCRM
    from tests.deal_scenario import seed
    from tests.fakes.hubspot import FakeHubSpot
    from tests.fakes.slack import FakeSlack

    began = time.monotonic()
    logging.basicConfig(filename=tmp / "parent.log", level=logging.WARNING)
    hubspot = FakeHubSpot(token=HUBSPOT_TOKEN).start()
    slack = FakeSlack(bot_token=BOT_TOKEN).start()
    database_url = args.database_url or f"sqlite:///{tmp / 'drumbeat.db'}"
    rituals = tmp / "rituals.yaml"
    rituals.write_text(RITUALS)
    seed(hubspot, slack)
    engine = create_db_engine(database_url)
    migrate(engine)
    # The mirror is filled before the CRM turns slow: the sync is not what this measures.
    sync_mirror(
        HubSpotCRM(HUBSPOT_TOKEN, base_url=hubspot.url), session_factory(engine), now=datetime.now(UTC)
    )
    engine.dispose()
    hubspot.latency = CRM_LATENCY

    specs: dict[str, dict[str, Any]] = {
        "drumbeat": {
            "settings": {
                "slack_bot_token": BOT_TOKEN,
                "slack_signing_secret": SIGNING_SECRET,
                "slack_api_url": slack.api_url,
                "database_url": database_url,
                "log_format": "text",
                "hubspot_access_token": HUBSPOT_TOKEN,
                "hubspot_api_url": hubspot.url,
                "CRM": "hubspot",
                "rituals_file": str(rituals),
            },
            "profile_path": str(tmp / "profile.json") if args.profile else None,
        },
        "bare": {"signing_secret": SIGNING_SECRET, "bot_token": BOT_TOKEN, "slack_api_url": slack.api_url},
    }
    children: dict[str, ChildServer] = {}
    closers: list[Callable[[], None]] = []
    urls: dict[str, str] = {}
    logs = {kind: tmp / f"{kind}.log" for kind in specs} if args.mode == "subprocess" else {}
    try:
        for kind in ("drumbeat", "bare"):
            if args.mode == "subprocess":
                children[kind] = start_child(kind, specs[kind], logs[kind])
                urls[kind] = children[kind].url
            else:
                server, close = build_server(kind, specs[kind])
                closers.append(close)
                urls[kind] = server.start().url

        def hooks(kind: str) -> dict[str, Any]:
            child = children.get(kind)
            if child is None:
                return {"on_measure": lambda: None, "on_done": lambda: None}
            return {
                "on_measure": lambda: child.send("measure"),
                "on_done": lambda: float(child.send("done").split()[1]) * 1000 / args.requests,
            }

        load = {"requests": args.requests, "concurrency": args.concurrency}
        # Bare first: once fed, Drumbeat's worker keeps working in the background.
        bare = drive("bare Bolt", urls["bare"], slack.response_url, _acked_ok, **load, **hooks("bare"))
        drumbeat = drive(
            "Drumbeat", urls["drumbeat"], slack.response_url, _accepted, **load, **hooks("drumbeat")
        )
        after_load = worker_state(database_url, hubspot)
        time.sleep(args.drain)
        state = worker_state(database_url, hubspot)
        worker_seconds = time.monotonic() - drumbeat.started
    except Exception:
        for log in logs.values():
            print(f"--- end of {log.name} ---\n{log.read_text()[-3000:]}", file=sys.stderr)
        raise
    finally:
        for fake in (hubspot, slack):  # calls cut short by the servers' exit are expected
            if fake._server is not None:
                fake._server.handle_error = lambda *_: None
        for child in children.values():
            child.stop()
        for close in closers:
            close()
        slack.stop()
        hubspot.stop()
    report(bare, drumbeat, after_load, state, worker_seconds, args)
    for kind, log in logs.items():
        summarize_log(kind, log.read_text().splitlines())
    print(f"total run time {time.monotonic() - began:.0f} s")
    if args.profile:
        print_profile(json.loads((tmp / "profile.json").read_text()), drumbeat)


def summarize_log(kind: str, lines: list[str]) -> None:
    """Warnings and errors by logger; an error's message and the exception that ended its traceback."""
    levels = Counter(
        " ".join(ln.split()[1:3]).rstrip(":") for ln in lines if ln.split()[1:2] in (["WARNING"], ["ERROR"])
    )
    if not levels:
        return
    print(f"{kind} log: " + ", ".join(f"{n} x {what}" for what, n in levels.most_common(4)))
    for logger in sorted({what.split()[1] for what in levels if what.startswith("ERROR")}):
        at = next(i for i, ln in enumerate(lines) if ln.split()[1:3] == ["ERROR", logger + ":"])
        after = [ln for ln in lines[at + 1 : at + 80] if ln and not ln[0].isspace()]
        cause = next(
            (ln for ln in after if "Error" in ln.split(":")[0] or "Exception" in ln.split(":")[0]), ""
        )
        print(f"  first {logger} error: {lines[at].split(': ', 1)[-1][:90]} | {cause[:150]}")


def _acked_ok(body: str) -> bool:
    return body.strip() == "ok"


def _accepted(body: str) -> bool:
    return ACKED_MARK in body


def report(
    bare: Run,
    drumbeat: Run,
    after_load: WorkerState,
    state: WorkerState,
    worker_seconds: float,
    args: argparse.Namespace,
) -> None:
    where = "each server in its own process" if args.mode == "subprocess" else "servers in the load generator"
    where += (
        "; PostgreSQL" if args.database_url and "postgres" in args.database_url else "; SQLite file (WAL)"
    )
    print(
        f"/deal update acks, {args.requests} per app, {args.concurrency} clients (after {args.concurrency} "
        f"warm-ups); both: waitress {WAITRESS_THREADS} threads, Bolt listener pool {LISTENER_THREADS}; "
        f"{where}; CRM latency {CRM_LATENCY:.1f} s"
    )
    print(
        f"{'app':<10} {'n':>4} {'ok':>4} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        f"   {'alone p50':>9} {'CPU/req':>8}"
    )
    for run in (bare, drumbeat):
        cpu = "" if run.cpu_ms is None else f"{run.cpu_ms:6.1f}ms"
        print(
            f"{run.app:<10} {len(run.latencies_ms):>4} {run.good:>4} {run.pct(50):>7.1f} {run.pct(90):>7.1f} "
            f"{run.pct(99):>7.1f} {max(run.latencies_ms):>7.1f}   "
            f"{run.pct(50, run.unloaded_ms):>7.1f}ms {cpu:>8}"
        )
        if run.first_bad:
            print(f"  {run.app}: {len(run.latencies_ms) - run.good} not ok, first: {run.first_bad}")
        if run.warmup_bad:
            print(f"  {run.app}: {run.warmup_bad} warm-up requests not ok: {run.warmup_first_bad}")
    ratio = drumbeat.pct(99) / bare.pct(99)
    slowest = max(drumbeat.latencies_ms)
    sent = len(drumbeat.latencies_ms) + args.concurrency + UNLOADED  # measured, warm-ups, alone
    all_queued = state.enqueued == sent
    all_fast = slowest < ACK_LIMIT_MS and drumbeat.good == len(drumbeat.latencies_ms) and all_queued
    print(
        f"{'PASS' if ratio <= TARGET_RATIO else 'FAIL'}  Drumbeat p99 / bare p99 = {ratio:.2f}x "
        f"(target <= {TARGET_RATIO}x)"
    )
    print(
        f"{'PASS' if all_fast else 'FAIL'}  every Drumbeat ack < 3 s and accepted: "
        f"{'yes' if all_fast else 'no'} (slowest {slowest:.0f} ms, {drumbeat.good} stored before the ack, "
        f"{state.enqueued} of {sent} checked and queued for the CRM)"
    )
    rejected = f", {state.other} rejected" if state.other else ""
    print(
        f"worker: {state.done} of {state.enqueued} updates applied to the fake CRM "
        f"{worker_seconds:.0f} s after the first measured request ({after_load.done} when the load ended, "
        f"{state.patches} PATCHes received); outbox depth left {state.pending}{rejected}"
    )


def print_profile(data: dict[str, Any], drumbeat: Run, top: int = 12) -> None:
    n = len(drumbeat.latencies_ms)
    print(f"\nWall-clock samples of Drumbeat's busy request threads (ms per request, {n} requests):")
    for kind in ("waitress", "listener"):
        total = data["total"].get(kind, 0.0)
        print(f"[{kind} threads] busy {total * 1000 / n:.1f} ms/request; inclusive, by function:")
        for key, seconds in sorted(data["inclusive"].get(kind, {}).items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {seconds * 1000 / n:8.2f}  {key}")
        print(f"[{kind} threads] where (innermost repo frame -> leaf):")
        for key, seconds in sorted(data["sites"].get(kind, {}).items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {seconds * 1000 / n:8.2f}  {key}")


if __name__ == "__main__":
    sys.exit(main())
