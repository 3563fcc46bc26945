"""App Home: my open pipeline by stage, what needs a look, my streak. Refreshed on open and after updates."""

from __future__ import annotations

import logging
from collections import OrderedDict
from decimal import Decimal
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from core.deals.attention import needs_attention
from core.deals.commands import DealCommands, Refused
from core.deals.desk import DealView
from core.i18n import Translator
from core.people import LookupUnavailable
from handlers import blocks

log = logging.getLogger(__name__)


def register(app: App, commands: DealCommands) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], client: WebClient) -> None:
        user = event.get("user")
        if event.get("tab", "home") == "home" and isinstance(user, str):
            publish_home(client, commands, user)


def publish_home(client: WebClient, commands: DealCommands, user_id: str) -> None:
    try:
        view = home_view(commands, user_id)
    except LookupUnavailable as exc:  # the tab keeps what it showed; it refreshes on the next open
        log.warning("App Home not refreshed for %s: %s", user_id, exc)
        return
    client.views_publish(user_id=user_id, view=view)


def home_view(commands: DealCommands, user_id: str) -> dict[str, Any]:
    overview = commands.overview(user_id)
    t = commands.reader(user_id)
    if isinstance(overview, Refused):
        return blocks.home(
            linked=False,
            not_linked_message=overview.message,
            stages=[],
            attention=[],
            streak=0,
            open_count=0,
            fresh_count=0,
            t=t,
        )
    now, today, stale_after_days = overview.now, overview.today, overview.stale_after_days
    deals, fresh, streak = overview.deals, overview.fresh, overview.streak
    by_stage: OrderedDict[str, list[DealView]] = OrderedDict()
    for deal in sorted(deals, key=lambda d: (d.pipeline_label, d.stage_label)):
        by_stage.setdefault(f"{deal.pipeline_label} · {deal.stage_label}", []).append(deal)
    stages = [(label, len(group), _total(group, t)) for label, group in by_stage.items()]
    looks = [(d, needs_attention(d, now=now, today=today, stale_after_days=stale_after_days)) for d in deals]
    attention = [(deal, " · ".join(look.reasons(t=t))) for deal, look in looks if look.needed]
    return blocks.home(
        linked=True,
        not_linked_message="",
        stages=stages,
        attention=attention,
        streak=streak,
        open_count=len(deals),
        fresh_count=len(fresh),
        t=t,
    )


def _total(deals: list[DealView], t: Translator) -> str:
    by_currency: dict[str | None, Decimal] = {}
    for deal in deals:
        by_currency[deal.currency] = by_currency.get(deal.currency, Decimal(0)) + (deal.amount or Decimal(0))
    return " + ".join(t.money(total, currency) for currency, total in by_currency.items())
