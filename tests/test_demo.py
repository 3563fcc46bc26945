"""`drumbeat demo` and the built-in demo CRM behind it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.demo.history import seed_demo_week
from core.deals.desk import DealDesk
from core.mirror.summary import attention_by_owner, pipeline_summaries
from core.mirror.sync import OVERLAP, sync_mirror
from integrations.base import CrmNotFound, CrmRejected, DealUpdate
from integrations.demo import DemoCRM
from integrations.demo_seed import PEOPLE, seed_demo_crm
from integrations.demo_store import DemoDeal
from tests.cli import run_drumbeat

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def demo(sessions: Any) -> DemoCRM:
    with sessions.begin() as session:
        seed_demo_crm(session, NOW)
    return DemoCRM(sessions, clock=lambda: NOW)


def test_demo_runs_offline_without_credentials_and_shows_the_pipeline(tmp_path: Path) -> None:
    # A HubSpot token pointing nowhere must not matter: the demo never leaves the machine.
    env = {"HUBSPOT_ACCESS_TOKEN": "pat-unused", "HUBSPOT_API_URL": "http://127.0.0.1:1"}
    result = run_drumbeat("demo", "--now", "2026-11-23T09:00:00Z", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Sales pipeline — open deals" in out
    assert "Renewals pipeline — open deals" in out
    assert "What needs a look, per rep" in out
    for person in PEOPLE[:5]:
        assert f"{person.first_name} {person.last_name}" in out
    assert "Nothing was sent anywhere." in out
    assert list(tmp_path.iterdir()) == []  # no database left behind in the working directory


def test_demo_totals_match_the_demo_crm(sessions: Any, demo: DemoCRM, tmp_path: Path) -> None:
    seed_demo_week(sessions, demo, NOW)  # as the demo does: the week's new deals count too
    sync_mirror(demo, sessions, now=NOW, full=True)
    with sessions() as session:
        sales = next(s for s in pipeline_summaries(session) if s.pipeline_id == "default")
        open_sales = [
            d
            for d in session.scalars(select(DemoDeal).where(DemoDeal.pipeline_id == "default"))
            if d.stage_id not in ("closedwon", "closedlost")
        ]
    assert sales.deals == len(open_sales)
    assert sales.amount == sum((d.amount or Decimal(0) for d in open_sales), Decimal(0))
    db = tmp_path / "kept.db"
    result = run_drumbeat("demo", "--now", NOW.isoformat(), "--database", str(db), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    total_line = next(
        line for line in result.stdout.splitlines() if "Total" in line and f"{sales.deals}" in line
    )
    assert f"€{sales.amount:,.0f}" in total_line
    assert db.exists()


def test_seed_is_deterministic_and_realistically_messy(sessions: Any, demo: DemoCRM) -> None:
    first = [(d.id, d.name, d.amount, d.close_date, d.stage_id) for d in _deals(sessions)]
    with sessions.begin() as session:
        seed_demo_crm(session, NOW)
    assert [(d.id, d.name, d.amount, d.close_date, d.stage_id) for d in _deals(sessions)] == first
    assert 35 <= len(first) <= 45
    assert {d.pipeline_id for d in _deals(sessions)} == {"default", "renewals"}
    sync_mirror(demo, sessions, now=NOW, full=True)
    attention = attention_by_owner(
        DealDesk(sessions, deal_url=demo.deal_url, clock=lambda: NOW).open_deals(), NOW, 14
    )
    assert len(attention) == 5
    assert sum(len(a.stale) for a in attention) >= 5
    assert sum(len(a.past_close) for a in attention) >= 3
    assert sum(len(a.missing_amount) for a in attention) >= 2


def test_demo_crm_updates_and_validates(demo: DemoCRM) -> None:
    deal = next(
        d for page in demo.iter_deals() for d in page.deals if not d.is_closed and d.pipeline_id == "default"
    )
    updated = demo.update_deal(
        deal.id, DealUpdate(stage_id="contractsent", amount=Decimal("12500"), close_date=date(2026, 12, 15))
    )
    assert (updated.stage_id, updated.amount, updated.close_date) == (
        "contractsent",
        Decimal("12500"),
        date(2026, 12, 15),
    )
    won = demo.update_deal(deal.id, DealUpdate(stage_id="closedwon"))
    assert won.is_closed
    assert won.is_won
    with pytest.raises(CrmRejected, match="not in pipeline"):
        demo.update_deal(deal.id, DealUpdate(stage_id="renewal-due"))
    with pytest.raises(CrmNotFound):
        demo.get_deal("999999")
    with pytest.raises(CrmNotFound):
        demo.get_deal("not-a-number")


def test_demo_notes_are_idempotent_and_count_as_activity(demo: DemoCRM) -> None:
    deal = next(d for page in demo.iter_deals() for d in page.deals)
    at = NOW + timedelta(hours=1)
    first = demo.add_note(deal.id, "Still on track", timestamp=at, idempotency_key="k-1")
    again = demo.add_note(deal.id, "Still on track", timestamp=at, idempotency_key="k-1")
    assert first.id == again.id
    assert [n.body for n in demo.notes(deal.id)] == ["Still on track"]
    assert demo.get_deal(deal.id).last_activity_at == at


def test_incremental_sync_picks_up_only_changes(sessions: Any, demo: DemoCRM) -> None:
    first = sync_mirror(demo, sessions, now=NOW)
    assert first.full
    assert first.deals_read == first.deals_changed == len(_deals(sessions))
    deal = next(d for page in demo.iter_deals() for d in page.deals if not d.is_closed)
    later = NOW + timedelta(hours=2)
    DemoCRM(sessions, clock=lambda: later).update_deal(deal.id, DealUpdate(next_step="Send MSA"))
    second = sync_mirror(demo, sessions, now=later + timedelta(minutes=1))
    assert not second.full
    # The changed deal, plus any deal inside the overlap window before the previous high-water mark.
    assert first.high_water_mark is not None
    window_start = first.high_water_mark - OVERLAP
    expected = [d.id for d in _deals(sessions) if d.last_modified_at >= window_start]
    assert str(deal.id) in map(str, expected)
    assert second.deals_read == len(expected) < 5
    assert second.deals_changed == 1
    from core.models import MirrorDeal

    with sessions() as session:
        assert session.get(MirrorDeal, deal.id).next_step == "Send MSA"  # type: ignore[union-attr]


def _deals(sessions: Any) -> list[DemoDeal]:
    with sessions() as session:
        return list(session.scalars(select(DemoDeal).order_by(DemoDeal.id)))


def test_demo_shows_the_manager_rituals_on_a_week_of_history(tmp_path: Path) -> None:
    result = run_drumbeat("demo", "--now", "2026-11-30T08:00:00+01:00", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "PIPELINE DIGEST — MON 30 NOV" in out
    assert "changes since Mon 23 Nov" in out
    # The generated week: two new deals, moves, wins and losses, slipped dates, amount changes.
    summary = " ".join(out.split())  # Rich wraps long lines
    for change in (
        "2 new (€82,000)",
        "moved forward",
        "moved back",
        "won (",
        "lost (",
        "close dates slipped",
    ):
        assert change in summary
    assert "1:1 PREP: ALICE MARTIN" in out
    assert "slipped twice — what changed?" in summary
    assert "ADOPTION — WEEK OF 30 NOV" in out
    assert "weeks in a row" in summary
    charts = [Path(p.strip()) for p in re.findall(r"written to\s+(\S+\.png)", out)]
    assert [c.name for c in charts] == ["weekly-digest-2026-11-30.png", "adoption-2026-11-30.png"]
    assert all(c.read_bytes().startswith(b"\x89PNG") for c in charts)


def test_demo_shows_the_deal_alerts_its_week_would_have_posted(tmp_path: Path) -> None:
    result = run_drumbeat("demo", "--now", "2026-11-30T08:00:00+01:00", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())  # Rich wraps long lines
    # The week's win above 20,000, posted once in #wins; its two new deals told to the manager.
    assert out.count("(deal alert big-wins)") == 1
    assert "Post to #wins (deal alert big-wins)" in out and "is won! Congratulations" in out
    assert out.count("(deal alert new-deals)") == 2
    assert "🆕 New deal Nimbus Cloud — Pilot — €18,000" in out
    assert "(deal alert slipped)" in out and "Close date:" in out
    # Its last words point at the real thing.
    assert out.rstrip().endswith(
        "drumbeat init --admin you@yourcompany.com writes your rituals.yaml from them."
    )
