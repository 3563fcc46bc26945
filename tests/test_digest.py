"""The pipeline digest's numbers against figures worked out by hand on a known set of deals.

The deals live in the built-in demo CRM (a real adapter over the database); two syncs a week apart
write the mirror and the pipeline history exactly as `serve` does, and the digest is built from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from core.i18n import translator
from core.mirror.sync import sync_mirror
from core.models import MirrorOwner, Snooze
from integrations.demo import DemoCRM
from integrations.demo_seed import PIPELINES
from integrations.demo_store import DemoDeal, DemoOwner, DemoPipeline, DemoStage
from rituals.digest import (
    REASON_NO_NEXT_STEP,
    REASON_PAST_CLOSE,
    REASON_STALE,
    DealScope,
    PipelineDigest,
    build_digest,
    describe,
    scope_for,
)

NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # Monday 08:00 in Paris
PARIS = ZoneInfo("Europe/Paris")
TODAY = NOW.astimezone(PARIS).date()
WEEK_AGO = NOW - timedelta(days=8)


@dataclass(frozen=True)
class D:
    """A deal as it was a week ago (`then`) and as it is now (`now`, when it changed)."""

    id: int
    name: str
    owner: str
    then: dict[str, Any]
    now: dict[str, Any] | None = None
    created_days_ago: int = 60
    active_days_ago: int = 1
    next_step: str | None = "Call"


def _close(days: int) -> date:
    return TODAY + timedelta(days=days)


DEALS = (
    D(1, "Alpha", "101", {"stage": "appointmentscheduled", "amount": 10_000}, {"stage": "qualifiedtobuy"}),
    D(2, "Beta", "101", {"stage": "contractsent", "amount": 50_000, "close": 5}, {"stage": "closedwon"}),
    D(3, "Gamma", "102", {"stage": "presentationscheduled", "amount": 20_000}, {"stage": "closedlost"}),
    D(4, "Delta", "102", {"stage": "decisionmakerboughtin", "amount": 30_000, "close": -2}, {"close": 20}),
    D(5, "Epsilon", "101", {"stage": "qualifiedtobuy", "amount": 8_000}, {"stage": "appointmentscheduled"}),
    D(6, "Zeta", "102", {"stage": "presentationscheduled", "amount": 12_000}, {"amount": 18_000}),
    D(7, "Eta", "101", {"stage": "contractsent", "amount": 40_000, "currency": "USD"}),
    D(
        8,
        "Theta",
        "102",
        {"stage": "renewal-due", "amount": 5_000, "pipeline": "renewals"},
        active_days_ago=40,
    ),
    D(9, "Iota", "101", {"stage": "appointmentscheduled", "amount": 7_000}, created_days_ago=2),
    D(10, "Kappa", "101", {"stage": "closedwon", "amount": 3_000}),
    D(11, "Lambda", "102", {"stage": "qualifiedtobuy", "amount": 9_000, "close": -10}),
    D(12, "Mu", "101", {"stage": "presentationscheduled", "amount": 11_000, "close": 7}, next_step=None),
)


def _row(deal: D, state: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {
        "id": deal.id,
        "name": deal.name,
        "owner_id": deal.owner,
        "pipeline_id": state.get("pipeline", "default"),
        "stage_id": state["stage"],
        "amount": Decimal(state["amount"]),
        "currency": state.get("currency", "EUR"),
        "close_date": _close(state.get("close", 30)),
        "next_step": deal.next_step,
        "last_activity_at": NOW - timedelta(days=deal.active_days_ago),
        "last_modified_at": at,
        "created_at": NOW - timedelta(days=deal.created_days_ago),
        "closed_lost_reason": "No budget" if state["stage"] == "closedlost" else None,
    }


def _seed_crm(session: Session) -> None:
    session.add(DemoOwner(id="101", email="alice@acme.example", first_name="Alice", last_name="Martin"))
    session.add(DemoOwner(id="102", email="bruno@acme.example", first_name="Bruno", last_name="Costa"))
    for order, (pipeline_id, label, stages) in enumerate(PIPELINES):
        session.add(DemoPipeline(id=pipeline_id, label=label, display_order=order))
        for position, (stage_id, stage_label, probability, closed, won) in enumerate(stages):
            session.add(
                DemoStage(
                    pipeline_id=pipeline_id,
                    id=stage_id,
                    label=stage_label,
                    display_order=position,
                    probability=probability,
                    is_closed=closed,
                    is_won=won,
                )
            )


@pytest.fixture
def week(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The known deals, synced a week ago as they were, then changed, then synced now."""
    with sessions.begin() as session:
        _seed_crm(session)
        for deal in DEALS:
            if deal.created_days_ago > 7:
                session.add(DemoDeal(**_row(deal, deal.then, WEEK_AGO)))
    crm = DemoCRM(sessions)
    sync_mirror(crm, sessions, now=WEEK_AGO, full=True)
    with sessions.begin() as session:
        for deal in DEALS:
            if deal.created_days_ago <= 7:
                session.add(DemoDeal(**_row(deal, deal.then, NOW - timedelta(days=1))))
            elif deal.now is not None:
                values = _row(deal, {**deal.then, **deal.now}, NOW - timedelta(days=1))
                session.execute(update(DemoDeal).where(DemoDeal.id == deal.id).values(**values))
    sync_mirror(crm, sessions, now=NOW)
    return sessions


def _digest(
    sessions: sessionmaker[Session], scope: DealScope | None = None, *, at: datetime = NOW
) -> PipelineDigest:
    with sessions() as session:
        return build_digest(
            session,
            ritual_id="weekly-digest",
            scope=scope or DealScope(),
            now=at,
            local_now=at.astimezone(PARIS),
            compare_days=7,
            stale_after_days=14,
            deal_url=lambda deal_id: f"https://crm.example/deal/{deal_id}",
        )


def test_open_pipeline_totals_and_weighted_amounts_per_stage(week: sessionmaker[Session]) -> None:
    digest = _digest(week)
    sales_eur = next(p for p in digest.pipelines if p.pipeline_id == "default" and p.currency == "EUR")
    by_stage = {s.stage_id: (s.deals, s.amount, s.weighted) for s in sales_eur.stages}
    assert by_stage == {
        "appointmentscheduled": (2, Decimal(15_000), Decimal(3_000)),  # Epsilon 8k + Iota 7k, at 20 %
        "qualifiedtobuy": (2, Decimal(19_000), Decimal(7_600)),  # Alpha 10k + Lambda 9k, at 40 %
        "presentationscheduled": (2, Decimal(29_000), Decimal(17_400)),  # Zeta 18k + Mu 11k, at 60 %
        "decisionmakerboughtin": (1, Decimal(30_000), Decimal(24_000)),  # Delta, at 80 %
        "contractsent": (0, Decimal(0), Decimal(0)),  # Beta was won
    }
    assert (sales_eur.deals, sales_eur.amount, sales_eur.weighted) == (7, Decimal(93_000), Decimal(52_000))
    # The week before, from the history: Alpha, Epsilon and Lambda, Gamma, Zeta and Mu, Delta, Beta.
    assert [(s.deals_before, s.amount_before) for s in sales_eur.stages] == [
        (1, Decimal(10_000)),
        (2, Decimal(17_000)),
        (3, Decimal(43_000)),
        (1, Decimal(30_000)),
        (1, Decimal(50_000)),
    ]


def test_currencies_are_grouped_never_added(week: sessionmaker[Session]) -> None:
    digest = _digest(week)
    sales_usd = next(p for p in digest.pipelines if p.pipeline_id == "default" and p.currency == "USD")
    assert (sales_usd.deals, sales_usd.amount, sales_usd.weighted) == (1, Decimal(40_000), Decimal(36_000))
    totals = {t.currency: (t.deals, t.amount, t.weighted) for t in digest.totals}
    assert totals == {
        "EUR": (8, Decimal(98_000), Decimal(54_500)),  # Sales 93k + Renewals 5k (Theta at 50 %)
        "USD": (1, Decimal(40_000), Decimal(36_000)),
    }


def test_each_change_since_last_week(week: sessionmaker[Session]) -> None:
    digest = _digest(week)
    changes = {
        g.kind: [(c.name, describe(c.detail, translator("en"))) for c in g.deals] for g in digest.changes
    }
    assert changes == {
        "new": [("Iota", "Appointment scheduled")],
        "forward": [("Alpha", "Appointment scheduled → Qualified to buy")],
        "back": [("Epsilon", "Qualified to buy → Appointment scheduled")],
        "won": [("Beta", "Closed won")],
        "lost": [("Gamma", "No budget")],
        "slipped": [("Delta", f"{_fmt(_close(-2))} → {_fmt(_close(20))}")],
        "amount": [("Zeta", "€12,000 → €18,000")],
    }
    amount_changes = next(g for g in digest.changes if g.kind == "amount").deals
    assert [c.delta for c in amount_changes] == [Decimal(6_000)]  # up, so 1:1 prep doesn't flag it
    totals = {g.kind: g.totals for g in digest.changes if g.totals}
    assert totals == {
        "new": [("EUR", Decimal(7_000))],
        "won": [("EUR", Decimal(50_000))],
        "lost": [("EUR", Decimal(20_000))],
    }
    assert digest.since is not None and digest.since.astimezone(UTC) == NOW - timedelta(days=7)
    assert digest.history_note is None


def test_deals_that_need_a_decision(week: sessionmaker[Session]) -> None:
    decisions = _digest(week).decisions
    assert [(d.name, d.reasons) for d in decisions.deals] == [
        ("Mu", (REASON_NO_NEXT_STEP,)),  # closes in 7 days, no next step
        ("Lambda", (REASON_PAST_CLOSE,)),  # close date 10 days ago
        ("Theta", (REASON_STALE,)),  # untouched for 40 days
    ]
    assert decisions.total == 3
    assert decisions.by_reason == {REASON_PAST_CLOSE: 1, REASON_NO_NEXT_STEP: 1, REASON_STALE: 1}
    assert decisions.deals[0].url == "https://crm.example/deal/12"


def test_a_snoozed_stale_deal_waits_and_an_expired_snooze_brings_it_back(week: sessionmaker[Session]) -> None:
    theta_touched = NOW - timedelta(days=40)
    with week.begin() as session:
        session.add(
            Snooze(
                deal_id="8",
                until=TODAY + timedelta(days=3),
                snoozed_by="U1",
                snoozed_at=NOW - timedelta(days=1),
                touched_before=theta_touched,
            )
        )
    assert [d.name for d in _digest(week).decisions.deals] == ["Mu", "Lambda"]
    with week.begin() as session:
        session.execute(update(Snooze).where(Snooze.deal_id == "8").values(until=TODAY))
    decisions = _digest(week).decisions
    assert [d.name for d in decisions.deals] == ["Mu", "Lambda", "Theta"]
    assert decisions.by_reason[REASON_STALE] == 1


def test_filters_narrow_every_figure(week: sessionmaker[Session]) -> None:
    with week() as session:
        renewals = scope_for(session, pipelines=["Renewals"])
        brunos = scope_for(session, owners=["bruno@acme.example"])
    only_renewals = _digest(week, renewals)
    assert [(p.label, p.deals, p.amount) for p in only_renewals.pipelines] == [
        ("Renewals", 1, Decimal(5_000))
    ]
    assert all(not g.deals for g in only_renewals.changes)
    bruno = _digest(week, brunos)
    assert sorted(c.name for g in bruno.changes for c in g.deals) == ["Delta", "Gamma", "Zeta"]
    assert {t.currency: t.amount for t in bruno.totals} == {
        "EUR": Decimal(62_000)
    }  # Delta, Zeta, Lambda, Theta


def test_teams_filter_uses_the_crm_teams_of_owners(week: sessionmaker[Session]) -> None:
    with week.begin() as session:
        session.execute(
            update(MirrorOwner).where(MirrorOwner.id == "102").values(teams=[{"id": "7", "name": "EMEA"}])
        )
    with week() as session:
        emea = scope_for(session, teams=["emea"])
        nobody = scope_for(session, teams=["APAC"])
    assert emea.owner_ids == frozenset({"102"})
    assert {t.currency: t.deals for t in _digest(week, emea).totals} == {"EUR": 4}
    assert _digest(week, nobody).totals == []


def test_a_pipeline_with_no_deals_still_shows_with_zeros(week: sessionmaker[Session]) -> None:
    with week() as session:
        scope = scope_for(session, pipelines=["renewals"], owners=["101"])
    digest = _digest(week, scope)
    assert [(p.label, p.deals, p.amount) for p in digest.pipelines] == [("Renewals", 0, Decimal(0))]
    assert digest.decisions.total == 0


def test_before_any_history_the_digest_says_so(sessions: sessionmaker[Session]) -> None:
    digest = _digest(sessions)
    assert digest.since is None
    assert digest.history_note == "No history yet: changes show from the next digest on."
    assert digest.changes == []


def test_a_young_history_compares_with_its_first_day(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        _seed_crm(session)
        session.add(DemoDeal(**_row(DEALS[0], DEALS[0].then, NOW - timedelta(days=3))))
    crm = DemoCRM(sessions)
    sync_mirror(crm, sessions, now=NOW - timedelta(days=3), full=True)
    with sessions.begin() as session:
        values = _row(DEALS[0], {**DEALS[0].then, "stage": "qualifiedtobuy"}, NOW - timedelta(hours=1))
        session.execute(update(DemoDeal).where(DemoDeal.id == 1).values(**values))
    sync_mirror(crm, sessions, now=NOW)
    digest = _digest(sessions)
    assert (
        digest.history_note
        == f"History starts {_fmt((NOW - timedelta(days=3)).astimezone(PARIS).date())}: "
        + ("changes are since then.")
    )
    assert [c.name for g in digest.changes if g.kind == "forward" for c in g.deals] == ["Alpha"]


def _fmt(day: date) -> str:
    return day.strftime("%d %b %Y").lstrip("0")


def test_a_comparison_beyond_the_retention_window_stops_at_its_edge(week: sessionmaker[Session]) -> None:
    with week() as session:
        digest = build_digest(
            session,
            ritual_id="quarterly",
            scope=DealScope(),
            now=NOW,
            local_now=NOW.astimezone(PARIS),
            compare_days=90,
            stale_after_days=14,
            deal_url=str,
            history_retention=timedelta(days=5),
        )
    assert digest.since is not None and digest.since.astimezone(UTC) == NOW - timedelta(days=5)
    assert (
        digest.history_note
        == f"History starts {_fmt((NOW - timedelta(days=5)).astimezone(PARIS).date())}: "
        + ("changes are since then.")
    )
    assert [c.name for g in digest.changes if g.kind == "won" for c in g.deals] == ["Beta"]


def test_a_pipeline_emptied_this_week_still_shows_what_it_had(week: sessionmaker[Session]) -> None:
    later = NOW + timedelta(hours=1)
    with week.begin() as session:  # Theta, the only renewal, is signed
        session.execute(
            update(DemoDeal).where(DemoDeal.id == 8).values(stage_id="renewal-signed", last_modified_at=later)
        )
    sync_mirror(DemoCRM(week), week, now=later, full=True)
    digest = _digest(week, at=later)
    renewals = next(p for p in digest.pipelines if p.pipeline_id == "renewals")
    due = next(s for s in renewals.stages if s.stage_id == "renewal-due")
    assert (renewals.deals, due.deals_before, due.amount_before) == (0, 1, Decimal(5_000))
    assert [c.name for g in digest.changes if g.kind == "won" for c in g.deals] == ["Beta", "Theta"]


def test_a_cent_is_an_amount_change_and_a_move_follows_its_own_pipelines_stages(
    week: sessionmaker[Session],
) -> None:
    later = NOW + timedelta(hours=1)
    with week.begin() as session:
        # Eta gains one cent; Theta moves on in Renewals, whose stages have orders of their own.
        session.execute(
            update(DemoDeal)
            .where(DemoDeal.id == 7)
            .values(amount=Decimal("40000.01"), last_modified_at=later)
        )
        session.execute(
            update(DemoDeal)
            .where(DemoDeal.id == 8)
            .values(stage_id="renewal-negotiation", last_modified_at=later)
        )
    sync_mirror(DemoCRM(week), week, now=later, full=True)
    digest = _digest(week, at=later)
    groups = {g.kind: g for g in digest.changes}
    assert [(c.name, c.delta) for c in groups["amount"].deals] == [
        ("Zeta", Decimal(6_000)),
        ("Eta", Decimal("0.01")),
    ]
    assert describe(groups["amount"].deals[1].detail, translator("en")) == "US$40,000 → US$40,000.01"
    assert [(c.name, describe(c.detail, translator("en"))) for c in groups["forward"].deals] == [
        ("Alpha", "Appointment scheduled → Qualified to buy"),
        ("Theta", "Renewal due → Negotiation"),
    ]
    assert [c.name for c in groups["back"].deals] == ["Epsilon"]


def test_a_snoozed_deal_past_its_close_date_still_needs_a_decision(week: sessionmaker[Session]) -> None:
    with week.begin() as session:  # Lambda closed 10 days ago; its owner snoozed it for a week
        session.add(
            Snooze(
                deal_id="11",
                until=TODAY + timedelta(days=7),
                snoozed_by="U1",
                snoozed_at=NOW - timedelta(days=1),
                touched_before=NOW - timedelta(days=1),
            )
        )
    decisions = _digest(week).decisions
    assert [(d.name, d.reasons) for d in decisions.deals] == [
        ("Mu", (REASON_NO_NEXT_STEP,)),
        ("Lambda", (REASON_PAST_CLOSE,)),
        ("Theta", (REASON_STALE,)),
    ]
    assert (decisions.total, decisions.by_reason[REASON_PAST_CLOSE]) == (3, 1)
