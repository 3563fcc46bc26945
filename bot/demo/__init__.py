"""`drumbeat demo`: seed the demo CRM in a throwaway SQLite database and show what Drumbeat sees."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from sqlalchemy.orm import Session

from bot.db import create_db_engine, migrate, session_factory
from bot.demo.deal_command import show_deal_commands
from bot.demo.history import seed_demo_week
from bot.demo.rituals import show_alerts_of_the_week, show_rituals
from core.clock import Clock
from core.deals.desk import DealDesk, DealView
from core.formatting import format_money
from core.mirror.summary import attention_by_owner, pipeline_summaries
from core.mirror.sync import sync_mirror
from integrations.demo import DemoCRM
from integrations.demo_seed import DEAL_COUNT, MANAGER, REPS, seed_demo_crm

STALE_AFTER_DAYS = 14


def run_demo(console: Console, *, database: Path | None, clock: Clock) -> None:
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
            where = f"your file {path}" if database else "a temporary database"
            console.print(
                Panel.fit(
                    f"[bold]Drumbeat demo[/bold]: the Acme sales team ({len(REPS)} reps and their manager "
                    f"{MANAGER.first_name}), {DEAL_COUNT} deals in the built-in demo CRM.\n"
                    f"Mirrored {result.deals_read} deals into {where} as of {now:%A %d %B %Y, %H:%M} UTC. "
                    "Nothing was sent anywhere.",
                    border_style="cyan",
                )
            )
            with sessions() as session:
                _print_pipelines(console, session)
            open_deals = DealDesk(sessions, deal_url=crm.deal_url, clock=lambda: now).open_deals()
            _print_attention(console, open_deals, now)
            charts = Path(tempfile.mkdtemp(prefix="drumbeat-demo-charts-"))
            show_rituals(console, sessions, crm, now, chart_dir=charts)
            show_alerts_of_the_week(console, sessions, crm, now)
            show_deal_commands(console, sessions, crm, now)
        finally:
            engine.dispose()
    console.print(
        "Next, the real thing: create the Slack app and a HubSpot service key (README.md, 'Configuration'), "
        "then [bold]drumbeat init --admin you@yourcompany.com[/bold] writes your rituals.yaml from them."
    )


def _print_pipelines(console: Console, session: Session) -> None:
    for summary in pipeline_summaries(session):
        currency = summary.currency
        table = Table(
            title=f"{summary.label} pipeline — open deals",
            title_justify="left",
            show_footer=True,
        )
        table.add_column("Stage", footer="Total")
        table.add_column("Win %", justify="right")
        table.add_column("Deals", justify="right", footer=str(summary.deals))
        table.add_column("Amount", justify="right", footer=format_money(summary.amount, currency))
        table.add_column("Weighted", justify="right", footer=format_money(summary.weighted, currency))
        for line in summary.stages:
            probability = "—" if line.probability is None else f"{line.probability:.0%}"
            table.add_row(
                line.label,
                probability,
                str(line.deals),
                format_money(line.amount, currency),
                format_money(line.weighted, currency),
            )
        console.print(table)


def _print_attention(console: Console, deals: list[DealView], now: datetime) -> None:
    table = Table(title="What needs a look, per rep", title_justify="left")
    table.add_column("Rep")
    table.add_column("Open", justify="right")
    table.add_column(f"Untouched {STALE_AFTER_DAYS}+ days", justify="right")
    table.add_column("Past close date", justify="right")
    table.add_column("No amount", justify="right")
    fresh_total = open_total = 0
    for entry in attention_by_owner(deals, now, STALE_AFTER_DAYS):
        table.add_row(
            entry.name,
            str(entry.open_deals),
            str(len(entry.stale)),
            str(len(entry.past_close)),
            str(len(entry.missing_amount)),
        )
        open_total += entry.open_deals
        fresh_total += entry.open_deals - len(entry.stale)
    console.print(table)
    console.print(f"{fresh_total} of {open_total} open deals are fresh — the rest get a friendly nudge.")
