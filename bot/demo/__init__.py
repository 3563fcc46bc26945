"""`drumbeat demo`: seed the demo CRM in a throwaway SQLite database and show what Drumbeat sees."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from sqlalchemy.orm import Session

from bot.db import create_db_engine, migrate, session_factory
from bot.demo.deal_command import show_deal_commands
from bot.demo.history import seed_demo_week
from bot.demo.rituals import show_alerts_of_the_week, show_rituals
from core.clock import Clock
from core.deals.desk import DealDesk, DealView
from core.i18n import MISSING, Translator
from core.mirror.summary import attention_by_owner, pipeline_summaries
from core.mirror.sync import sync_mirror
from integrations.demo import DemoCRM
from integrations.demo_seed import DEAL_COUNT, MANAGER, REPS, seed_demo_crm

STALE_AFTER_DAYS = 14


def run_demo(console: Console, *, database: Path | None, clock: Clock, t: Translator) -> None:
    """The demo in ``t``'s language: its world too (the rituals file's `language:`, the people's Slack
    locales), so every ritual, alert and `/deal` answer reads as that team would read it."""
    with tempfile.TemporaryDirectory(prefix="drumbeat-demo-") as scratch:
        path = database or Path(scratch) / "demo.db"
        engine = create_db_engine(f"sqlite:///{path}")
        try:
            migrate(engine)
            sessions = session_factory(engine)
            now = clock()
            with sessions.begin() as session:
                seed_demo_crm(session, now)
            crm = DemoCRM(sessions, clock=clock)
            seed_demo_week(sessions, crm, now)
            result = sync_mirror(crm, sessions, now=now, full=True)
            when = t._("{day} {year}, {time}", day=t.long_day(now), year=now.year, time=t.clock(now))
            if database:
                mirrored = t._(
                    "Mirrored {deals} deals into your file {path} as of {when} UTC.",
                    deals=t.number(result.deals_read),
                    path=escape(str(path)),
                    when=when,
                )
            else:
                mirrored = t._(
                    "Mirrored {deals} deals into a temporary database as of {when} UTC.",
                    deals=t.number(result.deals_read),
                    when=when,
                )
            team = t._(
                "[bold]Drumbeat demo[/bold]: the Acme sales team ({reps} reps and their manager {manager}), "
                "{deals} deals in the built-in demo CRM.",
                reps=len(REPS),
                manager=MANAGER.first_name,
                deals=DEAL_COUNT,
            )
            nothing_sent = t._("Nothing was sent anywhere.")
            console.print(Panel.fit(f"{team}\n{mirrored} {nothing_sent}", border_style="cyan"))
            with sessions() as session:
                _print_pipelines(console, session, t)
            open_deals = DealDesk(sessions, deal_url=crm.deal_url, clock=lambda: now).open_deals()
            _print_attention(console, open_deals, now, t)
            charts = Path(tempfile.mkdtemp(prefix="drumbeat-demo-charts-"))
            show_rituals(console, sessions, crm, now, chart_dir=charts, t=t)
            show_alerts_of_the_week(console, sessions, crm, now, t=t)
            show_deal_commands(console, sessions, crm, now, t=t)
        finally:
            engine.dispose()
    console.print(
        t._(
            "Next, the real thing: create the Slack app and a HubSpot service key "
            "(README.md, 'Configuration'), then [bold]drumbeat init --admin you@yourcompany.com[/bold] "
            "writes your rituals.yaml from them."
        )
    )


def _print_pipelines(console: Console, session: Session, t: Translator) -> None:
    for summary in pipeline_summaries(session):
        currency = summary.currency
        table = Table(
            title=t._("{pipeline} pipeline — open deals", pipeline=escape(summary.label)),
            title_justify="left",
            show_footer=True,
        )
        table.add_column(t._("Stage"), footer=t._("Total"))
        table.add_column(t._("Win %"), justify="right")
        table.add_column(t._("Deals"), justify="right", footer=t.number(summary.deals))
        table.add_column(t._("Amount"), justify="right", footer=t.money(summary.amount, currency))
        table.add_column(t._("Weighted"), justify="right", footer=t.money(summary.weighted, currency))
        for line in summary.stages:
            probability = MISSING if line.probability is None else t.percent(line.probability)
            table.add_row(
                escape(line.label),
                probability,
                t.number(line.deals),
                t.money(line.amount, currency),
                t.money(line.weighted, currency),
            )
        console.print(table)


def _print_attention(console: Console, deals: list[DealView], now: datetime, t: Translator) -> None:
    table = Table(title=t._("What needs a look, per rep"), title_justify="left")
    table.add_column(t._("Rep"))
    table.add_column(t._("Open"), justify="right")
    table.add_column(t._("Untouched {days}+ days", days=STALE_AFTER_DAYS), justify="right")
    table.add_column(t._("Past close date"), justify="right")
    table.add_column(t._("No amount"), justify="right")
    fresh_total = open_total = 0
    for entry in attention_by_owner(deals, now, STALE_AFTER_DAYS):
        table.add_row(
            escape(entry.name),
            t.number(entry.open_deals),
            t.number(len(entry.stale)),
            t.number(len(entry.past_close)),
            t.number(len(entry.missing_amount)),
        )
        open_total += entry.open_deals
        fresh_total += entry.open_deals - len(entry.stale)
    console.print(table)
    console.print(
        t.n_(
            "{fresh} of {n} open deal is fresh — the rest get a friendly nudge.",
            "{fresh} of {n} open deals are fresh — the rest get a friendly nudge.",
            open_total,
            fresh=t.number(fresh_total),
        )
    )
