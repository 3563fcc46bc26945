"""Build the Bolt app, the deal use cases its listeners call, the queue workers and the WSGI app."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from slack_bolt import App
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.exc import DBAPIError

from bot.db import ping
from bot.replay_guard import replay_guard_for
from bot.services import Services
from bot.status import CrmBudgetGauges, DeadLetters
from bot.web import CachedProbe, HealthProbes, HubSpotWebhooks, WebApp
from core.deals.commands import DealCommands
from core.deals.desk import DealDesk
from core.deals.nudge_answers import NudgeAnswers
from core.mirror.refresher import DealRefresher
from core.models import AlertPost, OutboxEntry, ReceivedCommand
from core.people import LookupUnavailable, PeopleDirectory, PersonLink, SlackProfile
from core.queues.alert_posts import AlertPostQueue, alert_post_worker
from core.queues.commands import CommandInbox, command_worker
from core.queues.foreground import Foreground
from core.queues.leased import QueueWorker
from core.queues.outbox import Outbox, outbox_worker
from handlers import register_listeners
from handlers.alerts import SlackAlerts
from handlers.channel_posts import channel_poster, digest_renderer
from handlers.inbox import slack_answering
from handlers.notify import SlackNotifier, dm_sender
from handlers.nudges import render_nudge
from handlers.reports import render_adoption, render_digest, render_prep
from integrations.base import CrmError
from rituals.alerts import AlertReport, DealAlerts, alert_poster
from rituals.config import RitualsConfig
from rituals.engine import RitualEngine, Sender
from rituals.manager_rituals import ReportRenderers
from rituals.scheduler import RitualScheduler

log = logging.getLogger(__name__)

CRM_LABELS = {"hubspot": "HubSpot", "demo": "the demo CRM"}
LISTENER_THREADS = 32  # Bolt's default of 5 would queue acks behind slower listeners
WEBHOOK_SETTLE = timedelta(seconds=20)  # a burst of webhook matches is summed up once this quiet


@dataclass
class SlackRuntime:
    """Everything one process runs for Slack: the Bolt app, the outbox worker and the ritual engine."""

    foreground: Foreground
    bolt: App
    deals: DealCommands  # the deal use cases the listeners call
    worker: QueueWorker[OutboxEntry]
    commands: QueueWorker[ReceivedCommand]
    engine: RitualEngine
    send_dm: Sender
    alerts: DealAlerts
    alert_posts: QueueWorker[AlertPost]
    # Re-reads the deals HubSpot webhooks name; None unless HUBSPOT_WEBHOOK_SECRET is set.
    refresher: DealRefresher | None = None

    def start_workers(self) -> None:
        """The outbox, command and alert-post workers (and the webhook refresher): every serve process."""
        self.commands.start()
        self.worker.start()
        self.alert_posts.start()
        if self.refresher is not None:
            self.refresher.start()

    def stop_workers(self) -> None:
        if self.refresher is not None:
            self.refresher.stop()
        self.commands.stop()
        self.worker.stop()
        self.alert_posts.stop()

    def check_alerts(self) -> AlertReport:
        return check_alerts(self.alerts, self.alert_posts)

    def scheduler(self, services: Services) -> RitualScheduler:
        return RitualScheduler(
            self.engine, self.send_dm, lambda: services.rituals, after_sync=self.check_alerts
        )

    def apply_config(self, services: Services, config: RitualsConfig) -> None:
        """A changed, valid rituals file: people and admins now; the scheduler is told by the caller."""
        if config.deal_command != services.rituals.deal_command:
            log.warning("deal_command changed in the rituals file: restart serve for it to take effect")
        services.rituals = config
        self.deals.desk.stale_after_days = config.stale_after_days
        self.deals.people.update(
            admins=config.admins,
            links=person_links(config),
            default_tz=config.timezone,
            default_language=config.language,
        )

    def web_app(self, services: Services) -> WebApp:
        return create_web_app(services, self)


def create_runtime(
    services: Services,
    client: WebClient,
    *,
    worker_threads: int = 4,
    read_only: bool = False,
) -> SlackRuntime:
    """`read_only` (for `run --dry-run`) looks people up in Slack but caches nothing. The refresher of
    the deals HubSpot webhooks name exists only when HUBSPOT_WEBHOOK_SECRET is set; the deal alerts
    look at what it re-read at once."""
    _, signing_secret = services.settings.require_slack()
    config = services.rituals
    people = PeopleDirectory(
        services.sessions,
        lambda user_id: lookup_profile(client, user_id),
        lookup_email=lambda email: lookup_email(client, email),
        admins=config.admins,
        links=person_links(config),
        default_tz=config.timezone,
        default_language=config.language,
        clock=services.clock,
        read_only=read_only,
    )
    desk = DealDesk(
        services.sessions,
        deal_url=services.crm.deal_url,
        clock=services.clock,
        stale_after_days=config.stale_after_days,
    )
    # Built in dependency order; the two doorbells let a listener wake a worker built after it.
    outbox_wakeup, commands_wakeup = threading.Event(), threading.Event()
    inbox = CommandInbox(services.sessions, services.clock, on_stored=commands_wakeup.set)
    deals = DealCommands(
        services.sessions,
        desk,
        people,
        clock=services.clock,
        crm_label=CRM_LABELS.get(services.crm.name, services.crm.name),
        command=config.deal_command.name,
        aliases=dict(config.deal_command.aliases),
        store_command=lambda user_id, text, response_url: _stored(inbox.receive(user_id, text, response_url)),
        wake_worker=outbox_wakeup.set,
    )
    foreground = Foreground()
    notifier = SlackNotifier(client, deals)
    worker = outbox_worker(
        Outbox(services.sessions, services.clock),
        services.crm,
        notifier,
        after_claim=notifier.refresh_homes,
        threads=worker_threads,
        between_items=foreground.yield_to_requests,
        wakeup=outbox_wakeup,
    )
    commands = command_worker(
        inbox,
        slack_answering(deals, client),
        on_accepted=outbox_wakeup.set,
        between_items=foreground.yield_to_requests,
        wakeup=commands_wakeup,
    )
    app = App(
        client=client,
        signing_secret=signing_secret,
        # Checked once at start-up by `serve` with a clear message, and by /healthz.
        token_verification_enabled=False,
        logger=_bolt_logger(),
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener"),
    )
    poster = channel_poster(client)
    register_listeners(app, deals, NudgeAnswers(services.sessions, deals))
    engine = RitualEngine(
        sessions=services.sessions,
        crm=services.crm,
        desk=desk,
        people=people,
        config=lambda: services.rituals,
        render=render_nudge,
        clock=services.clock,
        reports=report_renderers(client),
        post=poster,
        crm_label=deals.crm_label,
        history_retention=timedelta(weeks=services.settings.history_retention_weeks),
    )
    alerts = DealAlerts(
        services.sessions,
        config=lambda: services.rituals,
        people=people,
        render=SlackAlerts(),
        deal_url=services.crm.deal_url,
        clock=services.clock,
    )
    alert_queue = AlertPostQueue(services.sessions, services.clock)
    alert_posts = alert_post_worker(alert_queue, alert_poster(alert_queue, poster))
    refresher = None
    if services.settings.webhook_secret() is not None and not read_only:
        # A webhook's deals, once re-read, are news for the deal alerts at once.
        refresher = DealRefresher(
            services.crm,
            services.sessions,
            clock=services.clock,
            # Webhooks come in batches: a bulk change is held until it settles, then summed up.
            on_refreshed=lambda: check_alerts(alerts, alert_posts, settle=WEBHOOK_SETTLE),
        )
    return SlackRuntime(
        alerts=alerts,
        alert_posts=alert_posts,
        foreground=foreground,
        bolt=app,
        deals=deals,
        worker=worker,
        commands=commands,
        engine=engine,
        send_dm=dm_sender(client),
        refresher=refresher,
    )


def check_alerts(
    alerts: DealAlerts, posts: QueueWorker[AlertPost], *, settle: timedelta = timedelta(0)
) -> AlertReport:
    """After a sync or a webhook's refresh: queue what the deal alerts say, and wake their poster."""
    report = alerts.evaluate(settle=settle)
    if any(not alert.is_dm for alert in report.planned):
        posts.wake()
    if report.planned or report.warnings:
        log.info("%s", report.summary())
    return report


def create_web_app(services: Services, runtime: SlackRuntime) -> WebApp:
    _, signing_secret = services.settings.require_slack()
    client = runtime.bolt.client
    webhook_secret = services.settings.webhook_secret()
    webhooks = None
    if webhook_secret is not None and runtime.refresher is not None:
        webhooks = HubSpotWebhooks(secret=webhook_secret, refresh=runtime.refresher.submit)
    web = WebApp(
        runtime.bolt,
        signing_secret=signing_secret,
        replay_guard=replay_guard_for(services.sessions),
        health=HealthProbes(
            database=lambda: _database_problem(services),
            slack=CachedProbe(lambda: slack_token_problem(client)),
            crm=CachedProbe(lambda: _crm_problem(services)),
        ),
        clock=services.clock,
        foreground=runtime.foreground,
        hubspot_webhooks=webhooks,
    )
    web.registry.register(DeadLetters(services.sessions))
    web.registry.register(CrmBudgetGauges(services.crm))
    return web


def _stored(_command_id: int) -> None:
    """The listener only needs to know the command is committed (`receive` raises if not)."""


class _WithoutUnusedTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when handed a client, then warns on
    every start that the token goes unused: expected here, so not worth a line on every command."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("drumbeat.bolt")
    if not any(isinstance(f, _WithoutUnusedTokenNotice) for f in logger.filters):
        logger.addFilter(_WithoutUnusedTokenNotice())
    return logger


def report_renderers(client: WebClient | None) -> ReportRenderers:
    """Block Kit for the manager rituals; without a client (the demo) mentions stay as written."""
    return ReportRenderers(
        digest=digest_renderer(client, render_digest), adoption=render_adoption, prep=render_prep
    )


def person_links(config: RitualsConfig) -> list[PersonLink]:
    return [PersonLink(p.crm_owner, p.slack, p.manager, p.language) for p in config.people]


def lookup_profile(client: WebClient, user_id: str) -> SlackProfile | None:
    """users.info: email (needs users:read.email), time zone and locale; None when there is no such user."""
    return _lookup(
        "users.info", "user_not_found", lambda: client.users_info(user=user_id, include_locale=True)
    )


def lookup_email(client: WebClient, email: str) -> SlackProfile | None:
    """users.lookupByEmail: the Slack person for a CRM owner's email, or None when there is none.

    That answer carries no locale, so users.info is asked for it: a profile is cached for a day.
    """
    found = _lookup("users.lookupByEmail", "users_not_found", lambda: client.users_lookupByEmail(email=email))
    if found is None:
        return None
    try:
        full = lookup_profile(client, found.slack_id)
    except LookupUnavailable as exc:
        log.info("Slack locale of %s unknown for now: %s", found.slack_id, exc)
        full = None
    return replace(full or found, email=(full or found).email or email)


def _lookup(method: str, not_found: str, call: Callable[[], Any]) -> SlackProfile | None:
    """None for "no such person"; LookupUnavailable when Slack could not be asked."""
    try:
        user = call()["user"]
    except SlackApiError as exc:
        if exc.response.get("error") == not_found:
            return None
        raise LookupUnavailable(f"Slack refused {method} ({exc.response.get('error')})") from None
    except (SlackClientError, OSError) as exc:
        raise LookupUnavailable(f"Slack is unreachable ({type(exc).__name__})") from None
    profile = user.get("profile") or {}
    name = profile.get("real_name") or user.get("real_name") or user.get("name") or user["id"]
    return SlackProfile(
        slack_id=user["id"],
        email=profile.get("email"),
        name=name,
        tz=user.get("tz"),
        locale=user.get("locale"),
    )


def slack_token_problem(client: WebClient) -> str | None:
    """None when Slack accepts the bot token, else why not."""
    try:
        client.auth_test()
    except SlackApiError as exc:
        return f"Slack refused the bot token ({exc.response.get('error', 'unknown error')})"
    except (SlackClientError, OSError) as exc:
        return f"Slack is unreachable ({type(exc).__name__})"
    return None


def _database_problem(services: Services) -> str | None:
    try:
        ping(services.engine)
    except DBAPIError as exc:
        return f"database unreachable ({type(exc.orig).__name__})"
    return None


def _crm_problem(services: Services) -> str | None:
    try:
        services.crm.check_access()
    except CrmError as exc:
        return str(exc)
    return None
