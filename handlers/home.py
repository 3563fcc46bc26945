"""App Home: my open pipeline by stage, what needs a look, my streak. Refreshed on open and after updates."""

from __future__ import annotations

import logging
from collections import OrderedDict
from decimal import Decimal
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from core.deals.attention import needs_attention
from core.deals.desk import DealView
from core.deals.permissions import NOT_LINKED
from core.deals.streaks import current_streak, record_review_week
from core.formatting import format_money
from core.people import LookupUnavailable
from handlers import blocks
from handlers.context import HandlerContext

log = logging.getLogger(__name__)


def register(app: App, ctx: HandlerContext) -> None:
    @app.event("app_home_opened")
    def home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") == "home":
            publish_home(client, ctx, event["user"])


def publish_home(client: WebClient, ctx: HandlerContext, user_id: str) -> None:
    try:
        view = home_view(ctx, user_id)
    except LookupUnavailable as exc:  # the tab keeps what it showed; it refreshes on the next open
        log.warning("App Home not refreshed for %s: %s", user_id, exc)
        return
    client.views_publish(user_id=user_id, view=view)


def home_view(ctx: HandlerContext, user_id: str) -> dict[str, Any]:
    actor = ctx.people.actor(user_id)
    if not actor.is_linked or actor.owner_id is None:
        return blocks.home(
            linked=False,
            not_linked_message=NOT_LINKED,
            stages=[],
            attention=[],
            streak=0,
            open_count=0,
            fresh_count=0,
        )
    now = ctx.clock()
    today = actor.local_now(now).date()
    deals = ctx.desk.my_open_deals(actor)
    looks = {
        d.id: needs_attention(d, now=now, today=today, stale_after_days=ctx.desk.stale_after_days)
        for d in deals
    }
    fresh = [d for d in deals if not looks[d.id].stale]
    with ctx.sessions.begin() as session:
        record_review_week(
            session,
            actor.owner_id,
            today,
            open_deals=len(deals),
            reviewed_deals=len(fresh),
            keep_figures=False,
        )
        streak = current_streak(session, actor.owner_id, today)
    by_stage: OrderedDict[str, list[DealView]] = OrderedDict()
    for deal in sorted(deals, key=lambda d: (d.pipeline_label, d.stage_label)):
        by_stage.setdefault(f"{deal.pipeline_label} · {deal.stage_label}", []).append(deal)
    stages = [(label, len(group), _total(group)) for label, group in by_stage.items()]
    attention = [(d, " · ".join(looks[d.id].reasons())) for d in deals if looks[d.id].needed]
    return blocks.home(
        linked=True,
        not_linked_message="",
        stages=stages,
        attention=attention,
        streak=streak,
        open_count=len(deals),
        fresh_count=len(fresh),
    )


def _total(deals: list[DealView]) -> str:
    by_currency: dict[str | None, Decimal] = {}
    for deal in deals:
        by_currency[deal.currency] = by_currency.get(deal.currency, Decimal(0)) + (deal.amount or Decimal(0))
    return " + ".join(format_money(total, currency) for currency, total in by_currency.items())
