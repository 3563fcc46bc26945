"""A week of generated history for `drumbeat demo`, so the digest, the 1:1 prep and the adoption
report have real changes to show: deals that moved, were won or lost, slipped, changed amount or
are new; and eight weeks of reviews and nudge answers per rep.

The pipeline history goes through the same `record_states` every sync uses: last week's states are
recorded as they were, and the demo's sync then records today's.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session, sessionmaker

from core.deals.streaks import week_start
from core.mirror.history import record_states
from core.models import NudgeRecord, PendingDM, ReviewWeek, RitualFiring
from integrations.base import Deal
from integrations.demo import DemoCRM
from integrations.demo_seed import CURRENCY, REPS, SALES_STAGES
from integrations.demo_store import DemoDeal

WEEK_AGO = timedelta(days=8)
MONTH_AGO = timedelta(days=30)
# Per rep, how much lower their share of reviewed deals was each week before: everyone improves.
# Emma (105) has been up to date every week, for a streak to celebrate.
REVIEW_STEP = {"101": 0.04, "102": 0.07, "103": 0.05, "104": 0.06, "105": 0.0}
STALE_AFTER = timedelta(days=14)
# Per rep, how their nudges were answered: (answered of 3 a week, minutes to answer).
ANSWERS = {"101": (3, 25), "102": (1, 600), "103": (2, 90), "104": (2, 240), "105": (3, 45)}


def seed_demo_week(sessions: sessionmaker[Session], crm: DemoCRM, now: datetime) -> None:
    """Call after seeding the demo CRM and before its first sync."""
    with sessions.begin() as session:
        _add_new_deals(session, now)
    deals = [deal for page in crm.iter_deals() for deal in page.deals]
    week_ago = now - WEEK_AGO
    past, slipped_twice = _last_week(deals, now)
    with sessions.begin() as session:
        if slipped_twice is not None:
            record_states(session, [slipped_twice], now - MONTH_AGO)
        record_states(session, past, week_ago)
        _review_history(session, deals, now)


def _add_new_deals(session: Session, now: datetime) -> None:
    for offset, (name, amount, stage) in enumerate(
        (
            ("Nimbus Cloud — Pilot", Decimal(18_000), "qualifiedtobuy"),
            ("Helix Robotics — Platform licence", Decimal(64_000), "appointmentscheduled"),
        )
    ):
        created = now - timedelta(days=2 + 2 * offset, hours=3)
        session.add(
            DemoDeal(
                id=2000 + offset,
                name=name,
                owner_id=REPS[offset].owner_id,
                pipeline_id="default",
                stage_id=stage,
                amount=amount,
                currency=CURRENCY,
                close_date=(now + timedelta(days=45 + 10 * offset)).date(),
                next_step="Book discovery call",
                last_activity_at=created,
                last_modified_at=created,
                created_at=created,
            )
        )


def _last_week(deals: list[Deal], now: datetime) -> tuple[list[Deal], Deal | None]:
    """Each deal as it was a week ago (new ones left out), and a month-old state of one deal whose
    close date then slipped twice."""
    today = now.date()
    sales_open = [s[0] for s in SALES_STAGES if not s[3]]
    past: list[Deal] = []
    slipped = 0
    slipped_twice: Deal | None = None
    for index, deal in enumerate(sorted(deals, key=lambda d: int(d.id))):
        if deal.created_at is not None and deal.created_at > now - WEEK_AGO:
            continue
        then = deal
        if deal.is_closed:
            stage = "contractsent" if deal.pipeline_id == "default" else "renewal-negotiation"
            then = dataclasses.replace(deal, stage_id=stage, is_closed=False, is_won=False)
        elif deal.pipeline_id == "default" and deal.stage_id in sales_open:
            position = sales_open.index(deal.stage_id)
            if index % 6 == 1 and position > 0:
                then = dataclasses.replace(deal, stage_id=sales_open[position - 1])  # moved forward since
            elif index % 10 == 3 and position + 1 < len(sales_open):
                then = dataclasses.replace(deal, stage_id=sales_open[position + 1])  # moved back since
        if not deal.is_closed and deal.amount is not None and index % 7 == 4:
            then = dataclasses.replace(then, amount=(deal.amount * Decimal("0.7")).quantize(Decimal(500)))
        if (
            not deal.is_closed
            and deal.close_date is not None
            and deal.close_date > today
            and index % 5 == 0
            and slipped < 3
        ):
            then = dataclasses.replace(then, close_date=today - timedelta(days=3))
            if slipped == 0:
                slipped_twice = dataclasses.replace(then, close_date=today - timedelta(days=20))
            slipped += 1
        past.append(then)
    return past, slipped_twice


def _review_history(session: Session, deals: list[Deal], now: datetime) -> None:
    """Seven past weeks of review figures per rep, and three weeks of answered nudges."""
    this_week = week_start(now.date())
    for rep in REPS:
        owned = [d for d in deals if d.owner_id == rep.owner_id and not d.is_closed]
        open_deals = len(owned)
        fresh = sum(1 for d in owned if d.last_activity_at and now - d.last_activity_at < STALE_AFTER)
        current = fresh / open_deals if open_deals else 1.0
        step = REVIEW_STEP[rep.owner_id]
        for weeks_back in range(7, 0, -1):
            share = 1.0 if step == 0 else max(0.2, current - step * weeks_back)
            reviewed = round(open_deals * share)
            session.add(
                ReviewWeek(
                    owner_id=rep.owner_id,
                    week_start=this_week - timedelta(weeks=weeks_back),
                    up_to_date=reviewed >= open_deals,
                    open_deals=open_deals,
                    reviewed_deals=reviewed,
                )
            )
    rep_deals = {rep.owner_id: [d.id for d in deals if d.owner_id == rep.owner_id] for rep in REPS}
    for weeks_back in range(3, 0, -1):
        sent_at = now - timedelta(weeks=weeks_back)
        firing = RitualFiring(
            ritual_id="stale-deals",
            scheduled_local=f"{sent_at:%Y-%m-%dT%H:%M}",
            scheduled_for=sent_at,
            claimed_at=sent_at,
            claimed_by="demo",
            status="done",
            finished_at=sent_at,
        )
        session.add(firing)
        session.flush()
        for rep in REPS:
            session.add(
                PendingDM(
                    slack_user=rep.slack_id,
                    firing_id=firing.id,
                    ritual_id="stale-deals",
                    text="",
                    blocks=[],
                    send_after=sent_at,
                    tz="Europe/Paris",
                    status="sent",
                    attempts=1,
                    sent_at=sent_at,
                )
            )
            answered, minutes = ANSWERS[rep.owner_id]
            for n, deal_id in enumerate(rep_deals[rep.owner_id][:3]):
                session.add(
                    NudgeRecord(
                        slack_user=rep.slack_id,
                        deal_id=deal_id,
                        ritual_id="stale-deals",
                        day=sent_at.date(),
                        firing_id=firing.id,
                        queued_at=sent_at,
                        answered_at=sent_at + timedelta(minutes=minutes * (n + 1)) if n < answered else None,
                        answer="on_track" if n < answered else None,
                    )
                )
