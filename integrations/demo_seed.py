"""Deterministic seed data for the demo CRM: a small team with a realistic, slightly messy pipeline."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete
from sqlalchemy.orm import Session

from integrations.demo_store import DemoDeal, DemoNote, DemoOwner, DemoPipeline, DemoStage

CURRENCY = "EUR"


@dataclass(frozen=True, slots=True)
class DemoPerson:
    owner_id: str
    first_name: str
    last_name: str
    email: str
    slack_id: str
    is_manager: bool = False


MANAGER = DemoPerson("900", "Maxime", "Laurent", "maxime@acme.example", "U0MAXIME", is_manager=True)
REPS = (
    DemoPerson("101", "Alice", "Martin", "alice@acme.example", "U0ALICE"),
    DemoPerson("102", "Bruno", "Costa", "bruno@acme.example", "U0BRUNO"),
    DemoPerson("103", "Chloé", "Dubois", "chloe@acme.example", "U0CHLOE"),
    DemoPerson("104", "David", "Okafor", "david@acme.example", "U0DAVID"),
    DemoPerson("105", "Emma", "Schmidt", "emma@acme.example", "U0EMMA"),
)
PEOPLE = (*REPS, MANAGER)

# (id, label, probability, is_closed, is_won): HubSpot's default pipeline, then a renewals one.
SALES_STAGES = (
    ("appointmentscheduled", "Appointment scheduled", 0.2, False, False),
    ("qualifiedtobuy", "Qualified to buy", 0.4, False, False),
    ("presentationscheduled", "Presentation scheduled", 0.6, False, False),
    ("decisionmakerboughtin", "Decision maker bought-in", 0.8, False, False),
    ("contractsent", "Contract sent", 0.9, False, False),
    ("closedwon", "Closed won", 1.0, True, True),
    ("closedlost", "Closed lost", 0.0, True, False),
)
RENEWAL_STAGES = (
    ("renewal-due", "Renewal due", 0.5, False, False),
    ("renewal-negotiation", "Negotiation", 0.75, False, False),
    ("renewal-signed", "Renewed", 1.0, True, True),
    ("renewal-churned", "Churned", 0.0, True, False),
)
PIPELINES = (("default", "Sales", SALES_STAGES), ("renewals", "Renewals", RENEWAL_STAGES))

COMPANIES = (
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Logistics",
    "Wayne Foods",
    "Hooli",
    "Soylent",
    "Tyrell Systems",
    "Cyberdyne",
    "Wonka Industries",
    "Vandelay Imports",
    "Massive Dynamic",
    "Aperture Labs",
    "Oscorp",
    "Gringotts Bank",
    "Pied Piper",
    "Dunder Mifflin",
    "Nakatomi Trading",
    "Prestige Worldwide",
    "Bluth Company",
    "Sterling Cooper",
    "Monarch Solutions",
    "Virtucon",
    "Octan Energy",
    "Zorg Industries",
    "Duff Brewing",
    "Krusty Foods",
    "Ollivanders",
    "Blue Sun",
)
PRODUCTS = ("Platform licence", "Pilot", "Expansion", "Team plan", "Analytics add-on", "Onboarding")
NEXT_STEPS = (
    "Send MSA",
    "Book demo with IT",
    "Follow up on pricing",
    "Security review call",
    "Send proposal",
    "Intro to procurement",
    "Schedule kickoff",
)
LOST_REASONS = ("Went with a competitor", "No budget this year", "Project cancelled")

DEAL_COUNT = 40


def seed_demo_crm(session: Session, now: datetime, *, seed: int = 7) -> None:
    """Replace the demo CRM's content with the same data for the same `now` and `seed`."""
    rng = random.Random(seed)
    for model in (DemoNote, DemoDeal, DemoStage, DemoPipeline, DemoOwner):
        session.execute(delete(model))
    for person in PEOPLE:
        session.add(
            DemoOwner(
                id=person.owner_id,
                email=person.email,
                first_name=person.first_name,
                last_name=person.last_name,
            )
        )
    for order, (pipeline_id, label, stages) in enumerate(PIPELINES):
        session.add(DemoPipeline(id=pipeline_id, label=label, display_order=order))
        for stage_order, (stage_id, stage_label, probability, closed, won) in enumerate(stages):
            session.add(
                DemoStage(
                    pipeline_id=pipeline_id,
                    id=stage_id,
                    label=stage_label,
                    display_order=stage_order,
                    probability=probability,
                    is_closed=closed,
                    is_won=won,
                )
            )
    session.flush()
    today = now.date()
    for index in range(DEAL_COUNT):
        session.add(_make_deal(rng, index, now, today))


def _make_deal(rng: random.Random, index: int, now: datetime, today: date) -> DemoDeal:
    owner = REPS[index % len(REPS)]
    renewal = index % 5 == 4  # one deal in five is a renewal
    pipeline_id, _, stages = PIPELINES[1] if renewal else PIPELINES[0]
    open_stages = [s for s in stages if not s[3]]
    closed_stages = [s for s in stages if s[3]]
    closed = index % 8 == 7  # a few recently closed deals, won and lost
    stage = rng.choice(closed_stages) if closed else rng.choice(open_stages)
    company = COMPANIES[index % len(COMPANIES)]
    name = f"{company} — {'Renewal' if renewal else rng.choice(PRODUCTS)}"

    created = now - timedelta(days=rng.randint(20, 160))
    # Roughly a third of open deals are stale (untouched for 15-60 days).
    if not closed and index % 3 == 0:
        last_activity = now - timedelta(days=rng.randint(15, 60), hours=rng.randint(0, 12))
    else:
        last_activity = now - timedelta(days=rng.randint(0, 9), hours=rng.randint(0, 12))
    last_activity = max(last_activity, created)

    if closed:
        close = today - timedelta(days=rng.randint(1, 20))
    elif index % 7 == 2:
        close = today - timedelta(days=rng.randint(2, 25))  # past close date, still open
    else:
        close = today + timedelta(days=rng.randint(5, 100))

    amount: Decimal | None = Decimal(rng.randrange(3_000, 120_000, 500))
    if index % 9 == 5:
        amount = None  # missing amounts, for hygiene
    next_step = None if index % 4 == 1 else rng.choice(NEXT_STEPS)
    return DemoDeal(
        id=1000 + index,
        name=name,
        owner_id=owner.owner_id,
        pipeline_id=pipeline_id,
        stage_id=stage[0],
        amount=amount,
        currency=CURRENCY,
        close_date=close,
        next_step=next_step,
        last_activity_at=last_activity,
        last_modified_at=last_activity,
        created_at=created,
        closed_lost_reason=rng.choice(LOST_REASONS) if closed and not stage[4] else None,
    )
