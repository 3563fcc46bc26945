"""The `drumbeat` command line. Commands stay thin: they build services and call plain functions."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.prompt import Prompt
from slack_sdk import WebClient

from bot.db import DatabaseError, SchemaOutdated, create_db_engine, describe, ensure_schema_current, migrate
from bot.logs import configure_logging
from bot.services import Services, build_services, build_slack_client, slack_client
from bot.settings import Settings, SettingsError, load_settings
from core.clock import Clock, fixed_clock, parse_now, system_clock
from core.i18n import LANGUAGES, N_, Translator, cli_language, translator
from core.i18n.message import Message
from core.mirror.sync import sync_mirror
from integrations.base import CRM, CrmAuthError, CrmError
from rituals.config import ConfigError, RitualsConfig
from rituals.reload import RitualsFileWatcher

if TYPE_CHECKING:
    from bot.init import InitResult
    from rituals.starter import ChannelPurpose, SlackChannel

P = ParamSpec("P")
R = TypeVar("R")

app = typer.Typer(
    name="drumbeat",
    help="Drumbeat: your CRM's rituals, run in Slack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
log = logging.getLogger("drumbeat")

NowOption = Annotated[
    str | None,
    typer.Option("--now", help="Act as if it were this ISO 8601 time (e.g. 2026-11-23T09:00:00+01:00)."),
]


class CliLanguage(StrEnum):
    en = "en"
    fr = "fr"


LanguageOption = Annotated[
    CliLanguage | None,
    typer.Option(
        "--language",
        help="The language Drumbeat writes in: en or fr (default: from LC_ALL, LC_MESSAGES or LANG).",
    ),
]


@app.callback()
def _options(ctx: typer.Context, language: LanguageOption = None) -> None:
    """Drumbeat: your CRM's rituals, run in Slack."""
    if language is not None:
        ctx.obj = language.value


def _t(ctx: object = None, language: object = None) -> Translator:
    """The command line's language: the command's --language, else the one given before the command,
    else the environment's (LC_ALL, LC_MESSAGES, LANG)."""
    if isinstance(language, CliLanguage):
        return translator(language.value)
    find_root = getattr(ctx, "find_root", None)  # Typer hands commands its own Click's context
    chosen = find_root().obj if callable(find_root) else None
    return translator(chosen if chosen in LANGUAGES else cli_language())


class CliError(Exception):
    """A problem the person running the command can fix; printed as one line, no traceback."""


def friendly_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Known problems become one clear line on stderr and exit code 1 (2 for settings)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        t = _t(kwargs.get("ctx"), kwargs.get("language"))
        try:
            return command(*args, **kwargs)
        except SettingsError as exc:
            for line in str(exc).splitlines():
                err.print(t._("[red]error:[/red] {problem}", problem=escape(line)), highlight=False)
            raise typer.Exit(2) from None
        except ConfigError as exc:
            for config_problem in exc.problems:
                line = config_problem.text(t)
                err.print(t._("[red]error:[/red] {problem}", problem=escape(line)), highlight=False)
            raise typer.Exit(1) from None
        except (CliError, DatabaseError, SchemaOutdated, CrmError) as exc:
            message = exc.args[0] if exc.args else None  # a Message says itself in the reader's language
            problem = message.text(t) if isinstance(message, Message) else str(exc)
            err.print(t._("[red]error:[/red] {problem}", problem=escape(problem)), highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print(t._("interrupted"))
            raise typer.Exit(130) from None
        except typer.Exit:
            raise
        except Exception as exc:
            # A bug, not a user error: say so plainly; the traceback is for whoever debugs it.
            if os.environ.get("DRUMBEAT_DEBUG"):
                raise
            err.print(
                t._(
                    "[red]error:[/red] Drumbeat hit an unexpected problem ({kind}). "
                    "Nothing was left half-done that a re-run will not finish; set DRUMBEAT_DEBUG=1 "
                    "to see the details, and please report it.",
                    kind=type(exc).__name__,
                ),
                highlight=False,
            )
            raise typer.Exit(1) from None

    return wrapper


def _settings() -> Settings:
    settings = load_settings()
    configure_logging(settings.effective_log_format(), settings.secrets())
    return settings


def _clock(now: str | None) -> Clock:
    if now is None:
        return system_clock
    try:
        return fixed_clock(parse_now(now))
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _slack_client(settings: Settings) -> WebClient:
    """A client for reading Slack: only the bot token is needed (no signing secret)."""
    if settings.slack_bot_token is None:
        raise CliError(Message(N_("SLACK_BOT_TOKEN is not set: see README.md, 'Create the Slack app'.")))
    return slack_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)


def _ready_services(settings: Settings, clock: Clock = system_clock) -> Services:
    services = build_services(settings, clock=clock)
    ensure_schema_current(services.engine)
    return services


@app.command("migrate")
@friendly_errors
def migrate_command(ctx: typer.Context) -> None:
    """Bring the database schema to the latest revision (safe to run again)."""
    settings = _settings()
    t = _t(ctx)
    engine = create_db_engine(settings.database_url)
    try:
        before, after = migrate(engine)
    finally:
        engine.dispose()
    where = describe(engine)
    if before == after:
        said = t._(
            "Database {database} is already at the latest revision ({revision}).",
            database=where,
            revision=after,
        )
    elif before is None:
        said = t._("Database {database} migrated from empty to {revision}.", database=where, revision=after)
    else:
        said = t._(
            "Database {database} migrated from {before} to {revision}.",
            database=where,
            before=before,
            revision=after,
        )
    out.print(said, markup=False)


@app.command("sync")
@friendly_errors
def sync_command(
    ctx: typer.Context,
    full: Annotated[
        bool, typer.Option("--full", help="Copy everything again instead of only changes.")
    ] = False,
    now: NowOption = None,
    dry_run_alerts: Annotated[
        bool,
        typer.Option(
            "--dry-run-alerts",
            help="Print the deal alerts this sync's changes match instead of posting them.",
        ),
    ] = False,
) -> None:
    """Refresh the local mirror of CRM deals, pipelines and owners (incremental after the first run),
    then post the deal alerts its changes match."""
    settings = _settings()
    t = _t(ctx)
    services = _ready_services(settings, _clock(now))
    try:
        with Progress(
            TextColumn(t._("Syncing deals from {crm}", crm="{task.fields[crm]}")),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as progress:
            task = progress.add_task("sync", total=None, crm=_crm_label(services.crm.name, t))

            def report(done: int, total: int | None) -> None:
                progress.update(task, completed=done, total=total)

            result = sync_mirror(
                services.crm,
                services.sessions,
                now=services.clock(),
                full=full,
                progress=report,
                history_retention=timedelta(weeks=settings.history_retention_weeks),
            )
        crm = services.crm.name
        read, changed, removed = result.deals_read, result.deals_changed, result.deals_removed
        if result.full and removed:
            said = t.n_(
                "Full sync from {crm}: {n} deal read, {changed} new or changed, {removed} removed.",
                "Full sync from {crm}: {n} deals read, {changed} new or changed, {removed} removed.",
                read,
                crm=crm,
                changed=t.number(changed),
                removed=t.number(removed),
            )
        elif result.full:
            said = t.n_(
                "Full sync from {crm}: {n} deal read, {changed} new or changed.",
                "Full sync from {crm}: {n} deals read, {changed} new or changed.",
                read,
                crm=crm,
                changed=t.number(changed),
            )
        elif removed:
            said = t.n_(
                "Incremental sync from {crm}: {n} deal read, {changed} new or changed, {removed} removed.",
                "Incremental sync from {crm}: {n} deals read, {changed} new or changed, {removed} removed.",
                read,
                crm=crm,
                changed=t.number(changed),
                removed=t.number(removed),
            )
        else:
            said = t.n_(
                "Incremental sync from {crm}: {n} deal read, {changed} new or changed.",
                "Incremental sync from {crm}: {n} deals read, {changed} new or changed.",
                read,
                crm=crm,
                changed=t.number(changed),
            )
        out.print(said, highlight=False)
        _sync_alerts(settings, services, dry_run=dry_run_alerts, t=t)
    finally:
        services.close()


def _sync_alerts(settings: Settings, services: Services, *, dry_run: bool, t: Translator) -> None:
    """The deal alerts the sync's changes match: posted (DMs queued for their time), or printed."""
    from bot.demo.render import show_alerts
    from bot.slack_app import create_runtime

    if not services.rituals.alerts:
        return
    if settings.slack_bot_token is None or settings.slack_signing_secret is None:
        err.print(
            t._(
                "[yellow]warning:[/yellow] deal alerts need SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET: "
                "none were checked."
            ),
            highlight=False,
        )
        return
    runtime = create_runtime(services, build_slack_client(settings), read_only=dry_run)
    if dry_run:
        alerts = runtime.alerts.evaluate(dry_run=True)
        if alerts.started_watching:
            out.print(t._("Deal alerts: they start watching at the first sync that is not a dry run."))
            return
        show_alerts(Console(), alerts, t=t)
        out.print(
            t._("{summary} (dry run: nothing posted or claimed).", summary=alerts.summary(t)), highlight=False
        )
        return
    alerts = runtime.check_alerts()
    posted = runtime.alert_posts.run_once()
    runtime.engine.deliver_due(runtime.send_dm, only_firing=0)
    for warning in alerts.warnings:
        _warn(warning, t)
    if alerts.started_watching:
        out.print(t._("Deal alerts: watching for changes from now on."), highlight=False)
    elif alerts.planned or posted:
        dms = sum(1 for a in alerts.planned if a.is_dm)
        out.print(
            t._(
                "Deal alerts: {posted} posted, {dms} DMs queued.", posted=t.number(posted), dms=t.number(dms)
            ),
            highlight=False,
        )


def _warn(warning: str, t: Translator) -> None:
    err.print(t._("[yellow]warning:[/yellow] {warning}", warning=escape(warning)), highlight=False)


def _crm_label(name: str, t: Translator) -> str:
    """The CRM as a reader names it: `HubSpot`, `the demo CRM` / `le CRM de démo`."""
    from bot.demo.rituals import DEMO_CRM
    from bot.slack_app import CRM_LABELS

    return t._(DEMO_CRM) if name == "demo" else CRM_LABELS.get(name, name)


@app.command("serve")
@friendly_errors
def serve_command(
    port: Annotated[int | None, typer.Option("--port", help="HTTP port (default: $PORT or 3000).")] = None,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Do not run scheduled rituals in this process.")
    ] = False,
) -> None:
    """Serve Slack requests at POST /slack/events, plus GET /healthz and GET /metrics."""
    from bot.server import HttpServer
    from bot.slack_app import create_runtime, slack_token_problem

    settings = _settings()
    settings.require_slack()
    services = _ready_services(settings)
    client = build_slack_client(settings)
    problem = slack_token_problem(client)
    if problem is not None:
        raise CliError(Message(N_("{problem}: check SLACK_BOT_TOKEN."), problem=problem))
    try:
        services.crm.check_access()
    except CrmAuthError:
        raise
    except CrmError as exc:
        log.warning("CRM not reachable at start-up: %s", exc)
    runtime = create_runtime(services, client)
    server = HttpServer(runtime.web_app(services), port=port or settings.port)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    scheduler = None if no_scheduler else runtime.scheduler(services)

    def reloaded(config: RitualsConfig) -> None:
        runtime.apply_config(services, config)
        if scheduler is not None:
            scheduler.schedule(config)

    watcher = RitualsFileWatcher(settings.rituals_file, on_change=reloaded)
    if settings.rituals_file.exists():
        watcher.load()  # already validated by build_services; this sets the baseline
        watcher.start()
    runtime.start_workers()  # every serve process delivers queued CRM updates
    if scheduler is not None:
        scheduler.start()
    log.info(
        "serving Slack requests on port %d",
        server.port,
        extra={
            "crm": services.crm.name,
            "scheduler": scheduler is not None,
            "rituals": len(services.rituals.rituals),
        },
    )
    try:
        server.serve_forever()
    finally:
        # SIGTERM: no new requests; work in flight is finished (a CRM write, a ritual firing) and
        # claimed work not yet started is handed back for another replica to take at once.
        log.info("shutting down: finishing the work in flight")
        watcher.stop()
        if scheduler is not None:
            scheduler.shutdown()
        runtime.stop_workers()
        services.close()
        log.info("stopped")


@app.command("socket")
@friendly_errors
def socket_command() -> None:
    """Run the same app over Socket Mode (needs SLACK_APP_TOKEN), for development without a public URL."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.slack_app import create_runtime, slack_token_problem

    settings = _settings()
    settings.require_slack()
    app_token = settings.require_app_token()
    services = _ready_services(settings)
    client = build_slack_client(settings)
    problem = slack_token_problem(client)
    if problem is not None:
        raise CliError(Message(N_("{problem}: check SLACK_BOT_TOKEN."), problem=problem))
    runtime = create_runtime(services, client)
    handler = SocketModeHandler(runtime.bolt, app_token)
    runtime.start_workers()
    log.info("connected over Socket Mode")
    try:
        handler.start()  # type: ignore[no-untyped-call]
    finally:
        runtime.stop_workers()
        services.close()


@app.command("check-config")
@friendly_errors
def check_config_command(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Argument(help="The rituals file (default: $RITUALS_FILE).")] = None,
    now: NowOption = None,
    language: LanguageOption = None,
) -> None:
    """Validate the rituals file; pipelines, stages, fields and people are checked against a reachable CRM,
    and the Slack and CRM tokens' missing permissions are named."""
    settings = _settings()
    target = path or settings.rituals_file
    crm = _crm_for_checks(settings)
    if not _check_and_print(
        settings, target, crm, _clock(now)(), people_and_permissions=True, t=_t(ctx, language)
    ):
        raise typer.Exit(1)


def _check_and_print(
    settings: Settings,
    target: Path,
    crm: CRM | None,
    now: datetime,
    *,
    people_and_permissions: bool,
    t: Translator,
) -> bool:
    """What check-config prints: warnings on stderr, then the problems (stderr) or the rituals (stdout)."""
    from rituals.check import check_config, format_report

    report = check_config(target, crm=crm, now=now, t=t)
    if report.ok and people_and_permissions:
        report.warnings.extend(_permission_warnings(settings, crm))
        if crm is not None and settings.slack_bot_token is not None:
            report.warnings.extend(_owners_without_slack(settings, crm, target, t))
    for warning in report.warnings:
        _warn(warning, t)
    lines = format_report(report, t=t)
    if not report.ok:
        for line in lines:
            err.print(line, highlight=False, markup=False)
        return False
    for line in lines:
        out.print(line, highlight=False, markup=False)
    return True


def _permission_warnings(settings: Settings, crm: CRM | None) -> list[str]:
    """Scopes the tokens lack, by name and with where to add them; nothing for a token not set."""
    from bot.status import crm_access_problem
    from bot.workspace import slack_access_problem

    warnings: list[str] = []
    if crm is not None:
        problem = crm_access_problem(crm)
        if problem is not None and "lacks scope" in problem:  # other problems: check_config said them
            warnings.append(problem)
    if settings.slack_bot_token is not None:
        problem = slack_access_problem(_slack_client(settings))
        if problem is not None:
            warnings.append(f"Slack: {problem}")
    return warnings


def _owners_without_slack(settings: Settings, crm: CRM, path: Path, t: Translator) -> list[str]:
    """CRM owners nobody could DM: neither `people:` nor their email finds them in Slack."""
    from bot.slack_app import lookup_email
    from core.people import LookupUnavailable
    from rituals.config import load_rituals_file

    try:
        owners = [o for o in crm.fetch_owners() if not o.archived]
    except CrmError:
        return []
    config = load_rituals_file(path)
    linked = {p.crm_owner.lower() for p in config.people}
    client = _slack_client(settings)
    try:
        missing = [
            f"{o.name} ({o.email or o.id})"
            for o in owners
            if o.id.lower() not in linked
            and (o.email or "").lower() not in linked
            and (not o.email or lookup_email(client, o.email) is None)
        ]
    except LookupUnavailable as exc:
        return [t._("people were not matched with Slack: {problem}", problem=exc)]
    return [
        t._("no Slack match for CRM owner {who}: add them under people: to nudge them", who=who)
        for who in missing
    ]


def _crm_for_checks(settings: Settings) -> CRM | None:
    """The configured CRM, or None when it can't be built (check-config then checks the schema only)."""
    from sqlalchemy.engine import make_url

    from bot.db import normalize_url, session_factory
    from bot.services import create_crm

    try:
        if settings.crm == "demo":
            # The demo CRM lives in the database: only check against it once it exists and is migrated.
            url = make_url(normalize_url(settings.database_url))
            if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
                return None
            engine = create_db_engine(settings.database_url)
            ensure_schema_current(engine)
        else:
            engine = create_db_engine("sqlite://")  # HubSpot needs no database
        return create_crm(settings, session_factory(engine), system_clock)
    except (SettingsError, DatabaseError, SchemaOutdated):
        return None


@app.command("run")
@friendly_errors
def run_command(
    ctx: typer.Context,
    ritual_id: Annotated[str, typer.Argument(help="The ritual's id in the rituals file, e.g. stale-deals.")],
    now: NowOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the messages instead of sending them; claim nothing.")
    ] = False,
    chart_dir: Annotated[
        Path | None,
        typer.Option(
            "--chart-dir", help="Where --dry-run writes report charts (default: a temporary folder)."
        ),
    ] = None,
    language: LanguageOption = None,
) -> None:
    """Run one ritual once, now (or as if at --now), after an incremental refresh from the CRM."""
    from bot.demo.render import show_dms, show_posts
    from bot.slack_app import create_runtime

    t = _t(ctx, language)
    settings = _settings()
    settings.require_slack()
    clock = _clock(now)
    services = _ready_services(settings, clock)
    try:
        try:
            services.rituals.scheduled_ritual(ritual_id)
        except KeyError as exc:
            raise CliError(exc.args[0] if exc.args else f"no ritual {ritual_id!r}") from None
        runtime = create_runtime(services, build_slack_client(settings), read_only=dry_run)
        report = runtime.engine.run(ritual_id, scheduled_for=clock() if now else None, dry_run=dry_run)
        if not dry_run and not report.already_ran:
            # Only this firing's DMs: others queued for after quiet hours keep waiting for their time.
            report.delivered = runtime.engine.deliver_due(runtime.send_dm, only_firing=report.firing_id)
    finally:
        services.close()
    if report.crm_problem:
        _warn(t._("ran on the local mirror: {problem}", problem=report.crm_problem), t)
    if dry_run:
        console = Console()
        show_dms(console, report, t=t)
        if report.posts:
            folder = chart_dir or Path(tempfile.mkdtemp(prefix="drumbeat-charts-"))
            folder.mkdir(parents=True, exist_ok=True)
            show_posts(console, report, folder, t=t)
    out.print(report.summary(t), highlight=False)
    if report.post_problem:
        when = now or report.scheduled_for.isoformat()
        err.print(
            t._(
                "[red]error:[/red] nothing was posted: {problem}. Once that is fixed, "
                "`drumbeat run {ritual} --now {when}` posts it.",
                problem=escape(report.post_problem),
                ritual=escape(ritual_id),
                when=escape(when),
            ),
            highlight=False,
        )
        raise typer.Exit(1)


@app.command("status")
@friendly_errors
def status_command(ctx: typer.Context, now: NowOption = None, language: LanguageOption = None) -> None:
    """For an admin: rituals with their next and last firings, queues, the mirror, CRM and Slack health."""
    from bot.status import gather_status, show_status
    from bot.workspace import slack_access_problem

    t = _t(ctx, language)
    settings = _settings()
    clock = _clock(now)
    services = _ready_services(settings, clock)
    try:
        slack_problem = None
        if settings.slack_bot_token is not None:
            client = build_slack_client(settings)
            slack_problem = lambda: slack_access_problem(client)  # noqa: E731
        status = gather_status(
            services.sessions,
            services.rituals,
            crm=services.crm,
            crm_label=_crm_label(services.crm.name, t),
            slack_problem=slack_problem,
            now=clock(),
        )
    finally:
        services.close()
    show_status(Console(), status, slack_configured=settings.slack_bot_token is not None, t=t)
    if not status.healthy:
        raise typer.Exit(1)


@app.command("init")
@friendly_errors
def init_command(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="Where to write it (default: $RITUALS_FILE, rituals.yaml).")
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Take every default without asking (for scripts).")
    ] = False,
    admin: Annotated[
        str | None, typer.Option("--admin", help="Your Slack email: you become the file's admin.")
    ] = None,
    language: LanguageOption = None,
) -> None:
    """Write a starter rituals file from your HubSpot portal and Slack workspace (never over an existing
    one), then check it."""
    from bot.init import build_starter, take_default
    from bot.slack_app import CRM_LABELS
    from bot.workspace import SlackUnavailable

    t = _t(ctx, language)
    settings = _settings()
    target = path or settings.rituals_file
    if target.exists():
        raise CliError(
            t._(
                "{target} already exists, and init never overwrites a rituals file: check it with "
                "`drumbeat check-config {target}`, or write elsewhere with `drumbeat init OTHER.yaml`.",
                target=target,
            )
        )
    if settings.crm != "hubspot":
        raise CliError(
            t._(
                "drumbeat init reads your HubSpot portal: set HUBSPOT_ACCESS_TOKEN to a service key "
                "(README.md, 'Connect HubSpot'). To try Drumbeat without one, run `drumbeat demo`."
            )
        )
    client = _slack_client(settings)
    crm = _crm_for_checks(settings)
    if crm is None:
        raise CliError(t._("HubSpot could not be set up: check HUBSPOT_ACCESS_TOKEN and HUBSPOT_API_URL."))
    interactive = not yes and sys.stdin.isatty()
    if not yes and not interactive:
        err.print(t._("stdin is not a terminal: taking every default, as with --yes."), highlight=False)
    label = CRM_LABELS.get(crm.name, crm.name)
    out.print(t._("Reading {crm} and Slack…", crm=label), highlight=False)
    try:
        result = build_starter(
            crm,
            client,
            crm_label=label,
            admin_email=admin,
            choose=functools.partial(_ask_channel, t=t) if interactive else take_default,
            today=system_clock().date(),
        )
    except SlackUnavailable as exc:
        raise CliError(t._("{problem}: check SLACK_BOT_TOKEN.", problem=exc)) from None
    for warning in result.warnings:
        _warn(warning, t)
    try:
        with target.open("x", encoding="utf-8") as file:  # "x": never over a file made meanwhile
            file.write(result.text)
    except FileExistsError:
        raise CliError(
            t._("{target} already exists, and init never overwrites a rituals file.", target=target)
        ) from None
    except OSError as exc:
        raise CliError(
            t._("could not write {target}: {reason}", target=target, reason=exc.strerror or exc)
        ) from None
    _show_starter(result, target, t)
    out.print(
        "\n" + t._("Checking {target} (as `drumbeat check-config` does):", target=target), highlight=False
    )
    if not _check_and_print(settings, target, crm, system_clock(), people_and_permissions=False, t=t):
        raise typer.Exit(1)
    prefix = "" if target.resolve() == settings.rituals_file.resolve() else f"RITUALS_FILE={target} "
    out.print("\n" + t._("Next:"), highlight=False)
    out.print(f"  {prefix}drumbeat migrate", highlight=False)
    out.print(
        f"  {prefix}drumbeat run stale-deals --dry-run    # "
        + t._("the nudges each rep would get; nothing is sent"),
        highlight=False,
    )
    out.print(
        t._(
            "Then, when they look right: `drumbeat manifest --url https://<public host>` for the Slack app, "
            "and `drumbeat serve` there."
        ),
        highlight=False,
    )


def _show_starter(result: InitResult, target: Path, t: Translator) -> None:
    """What init found and chose, as the admin reads it before opening the file."""
    starter = result.starter
    people = starter.people
    matched = [p for p in people if p.slack_id]
    stages = sum(len(p.stages) for p in starter.pipelines)
    listed = result.channels_listed
    found = t._(
        "{crm}: {pipelines}, {stages}, {owners}.",
        crm=starter.crm_label,
        pipelines=t.n_("{n} pipeline", "{n} pipelines", len(starter.pipelines)),
        stages=t.n_("{n} stage", "{n} stages", stages),
        owners=t.n_("{n} active owner", "{n} active owners", len(people)),
    )
    if listed is None:
        slack = t._(
            "Slack: {matched} of {owners} owners matched by email, channels not listed.",
            matched=t.number(len(matched)),
            owners=t.number(len(people)),
        )
    else:
        slack = t.n_(
            "Slack: {matched} of {owners} owners matched by email, {n} channel.",
            "Slack: {matched} of {owners} owners matched by email, {n} channels.",
            listed,
            matched=t.number(len(matched)),
            owners=t.number(len(people)),
        )
    out.print(f"{found} {slack}", highlight=False)
    out.print("\n" + t._("Wrote {target}:", target=target), highlight=False)
    out.print(f"  timezone  {starter.timezone} ({starter.timezone_reason})", highlight=False)
    admin = starter.admin
    if admin.slack_id:
        out.print(f"  admins    {admin.email} ({admin.slack_name})", highlight=False)
    else:
        reason = admin.reason or t._("give --admin you@yourcompany.com")
        out.print("  admins    " + t._("none yet: {reason}", reason=reason), highlight=False)
    unmatched = [p for p in people if not p.slack_id]
    if unmatched:
        said = t.n_(
            "{matched} matched; {n} commented out, who will get nothing until fixed:",
            "{matched} matched; {n} commented out, who will get nothing until fixed:",
            len(unmatched),
            matched=t.number(len(matched)),
        )
    else:
        said = t._("{matched} matched", matched=t.number(len(matched)))
    out.print(f"  people    {said}", highlight=False)
    for person in unmatched:
        out.print(f"              {person.owner.name}: {person.reason}", highlight=False)
    for ritual, choice in (
        ("weekly-digest", starter.digest),
        ("adoption", starter.adoption),
        ("big-wins", starter.wins),
    ):
        out.print(f"  channel   {ritual} -> #{choice.name} ({choice.note})", highlight=False)


CHANNEL_PURPOSES = {
    "digest": N_("Channel for the pipeline digest:"),
    "adoption": N_("Channel for the adoption report:"),
    "wins": N_("Channel for big-win alerts:"),
}


def _ask_channel(
    purpose: ChannelPurpose, channels: Sequence[SlackChannel], default: SlackChannel | None, *, t: Translator
) -> SlackChannel | None:
    """Show the channels that fit, then ask; an answer must be an existing channel."""
    from rituals.starter import EXAMPLE_CHANNELS, fitting_channels

    by_name = {c.name: c for c in channels}
    shown = fitting_channels(channels, purpose)[:8] or list(channels)[:8]
    out.print("\n" + t._(CHANNEL_PURPOSES[purpose]), highlight=False)
    for channel in shown:
        member = "" if channel.is_member else "  " + t._("(Drumbeat not invited yet)")
        out.print(f"  #{channel.name}{member}", highlight=False)
    fallback = default.name if default else EXAMPLE_CHANNELS[purpose]
    while True:
        answer = Prompt.ask(t._("Channel"), default=fallback, console=out).strip().removeprefix("#")
        if answer in by_name:
            return by_name[answer]
        if default is None and answer == fallback:
            return None  # the example's name, to be created
        out.print(
            t._("There is no #{channel} Drumbeat can see; type one of the channels above.", channel=answer),
            highlight=False,
        )


@app.command("manifest")
@friendly_errors
def manifest_command(
    url: Annotated[
        str,
        typer.Option(
            "--url", help="The public https URL of `drumbeat serve`, e.g. https://drumbeat.acme.com."
        ),
    ],
) -> None:
    """Print the Slack app manifest with your public URL filled in, ready to paste into Slack."""
    from bot.manifest import ManifestError, manifest_with_url

    try:
        text = manifest_with_url(url)
    except ManifestError as exc:
        raise CliError(str(exc)) from None
    sys.stdout.write(text)


@app.command("demo")
@friendly_errors
def demo_command(
    ctx: typer.Context,
    database: Annotated[
        Path | None,
        typer.Option("--database", help="SQLite file to keep the demo in (default: a temporary file)."),
    ] = None,
    now: NowOption = None,
    language: LanguageOption = None,
) -> None:
    """Run Drumbeat on a built-in demo CRM: no credentials, no network, nothing to configure.

    `--language fr` shows a French team: every ritual, alert and /deal answer in French."""
    from bot.demo import run_demo

    run_demo(
        Console(), database=database, clock=_clock(now), t=_t(ctx, language)
    )  # wrapped, unlike one-line messages


def main() -> None:
    try:
        app()
    except SettingsError as exc:  # raised while Typer parses, before a command's own handler
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(2)
