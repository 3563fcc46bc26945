"""One rule per concept: staleness, "needs attention", review weeks and the editable-field table
read the same everywhere (App Home, the digest, nudges, 1:1 prep, the adoption report, `/deal`)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core.deals.attention import needs_attention
from core.deals.desk import DealDesk
from core.deals.fields import FIELDS, KEYS, modal_changes
from core.deals.grammar import DealCommand, format_help, parse_command
from core.deals.streaks import record_review_week
from core.i18n import translator
from core.mirror.summary import attention_by_owner
from core.models import AuditEntry, MirrorDeal, MirrorOwner, MirrorPipeline, MirrorStage, ReviewWeek, Snooze
from core.queues.outbox import deal_update
from handlers import blocks
from integrations.base import EDITABLE_PROPERTIES, DealUpdate
from integrations.hubspot import _update_properties
from rituals.config import StaleDealsRitual
from rituals.digest import REASON_STALE, DealScope, needs_decision
from rituals.kinds import stale_findings
from rituals.prep import prep_brief

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
OLD = NOW - timedelta(days=40)
STALE_AFTER = 14


@pytest.fixture
def desk(sessions: Any) -> DealDesk:
    """Four open deals of one owner, all untouched in the CRM for 40 days: one snoozed, one changed
    through Drumbeat two days ago, one whose snooze has ended, and one left alone."""
    with sessions.begin() as session:
        session.add(MirrorOwner(id="101", email="alice@example.com", first_name="Alice", last_name="A"))
        session.add(MirrorPipeline(id="default", label="Sales", display_order=0))
        session.add(MirrorStage(pipeline_id="default", id="qualified", label="Qualified", probability=0.2))
        for deal_id in ("snoozed", "changed", "woke", "alone"):
            session.add(
                MirrorDeal(
                    id=deal_id,
                    name=deal_id.title(),
                    owner_id="101",
                    pipeline_id="default",
                    stage_id="qualified",
                    amount=Decimal(1000),
                    currency="EUR",
                    close_date=TODAY + timedelta(days=60),
                    next_step="Call",
                    last_activity_at=OLD,
                    last_modified_at=OLD,
                    created_at=OLD - timedelta(days=100),
                    synced_at=NOW,
                )
            )
        session.add(
            Snooze(deal_id="snoozed", until=TODAY + timedelta(days=7), snoozed_by="U0ALICE", snoozed_at=NOW)
        )
        session.add(
            Snooze(deal_id="woke", until=TODAY, snoozed_by="U0ALICE", snoozed_at=OLD, touched_before=OLD)
        )
        session.add(
            AuditEntry(
                at=NOW - timedelta(days=2),
                slack_user="U0ALICE",
                deal_id="changed",
                field="amount",
                old_value="900",
                new_value="1000",
                source="slash",
            )
        )
        # A note is activity in the CRM already, never a review of its own.
        session.add(
            AuditEntry(
                at=NOW, slack_user="U0ALICE", deal_id="alone", field="note", new_value="x", source="nudge"
            )
        )
    return DealDesk(sessions, deal_url=lambda d: f"https://crm.example/{d}", clock=lambda: NOW)


STALE = {"woke", "alone"}


def test_views_carry_the_one_staleness_rule(desk: DealDesk) -> None:
    views = {d.id: d for d in desk.open_deals()}
    assert views["changed"].last_review == NOW - timedelta(days=2)
    assert views["snoozed"].snoozed_until == TODAY + timedelta(days=7)
    assert {i for i, d in views.items() if d.is_stale(NOW, STALE_AFTER, today=TODAY)} == STALE


def test_app_home_the_digest_nudges_prep_and_the_summary_agree(desk: DealDesk, sessions: Any) -> None:
    deals = desk.open_deals()
    # App Home and the deal lists
    home = {
        d.id for d in deals if needs_attention(d, now=NOW, today=TODAY, stale_after_days=STALE_AFTER).stale
    }
    assert home == STALE
    # The mirror's per-owner summary
    (owner,) = attention_by_owner(deals, NOW, STALE_AFTER)
    assert set(owner.stale) == {"Woke", "Alone"}
    # Nudges and the adoption report
    ritual = StaleDealsRitual(
        id="stale", kind="stale_deals", schedule="0 9 * * mon", stale_after_days=STALE_AFTER
    )
    english = translator("en")
    found = stale_findings(ritual, deals, now=NOW, today_for=lambda _owner: TODAY, t_for=lambda _o: english)[
        "101"
    ]
    assert {i.deal.id for i in found.items} == STALE
    assert found.fresh_count == 2
    # 1:1 prep
    brief = prep_brief(
        ritual_id="prep",
        manager_name="Max",
        rep_owner_id="101",
        rep_name="Alice",
        deals=deals,
        pushes={},
        changes=[],
        pipeline=[],
        now=NOW,
        today=TODAY,
        since=NOW - timedelta(days=7),
        first_prep=True,
        stale_after_days=STALE_AFTER,
        t=translator("en"),
    )
    assert {d.name for d in brief.stale} == {"Woke", "Alone"}
    # The digest, which counts in SQL
    with sessions() as session:
        decisions = needs_decision(
            session, DealScope(), now=NOW, today=TODAY, stale_after_days=STALE_AFTER, deal_url=str
        )
    assert {d.deal_id for d in decisions.deals if REASON_STALE in d.reasons} == STALE
    assert decisions.by_reason[REASON_STALE] == len(STALE)


def test_the_review_week_is_written_by_one_rule(sessions: Any) -> None:
    with sessions.begin() as session:
        record_review_week(session, "101", TODAY, open_deals=0, reviewed_deals=0, keep_figures=False)
        record_review_week(session, "102", TODAY, open_deals=3, reviewed_deals=3)
        record_review_week(session, "102", TODAY, open_deals=3, reviewed_deals=1)  # up to date stays so
    with sessions() as session:
        weeks = {w.owner_id: w for w in session.scalars(select(ReviewWeek))}
    assert weeks["101"].up_to_date is False and weeks["101"].open_deals is None
    assert weeks["102"].up_to_date is True
    assert (weeks["102"].open_deals, weeks["102"].reviewed_deals) == (3, 1)


# --- the editable-field table ---


def test_every_field_of_the_table_reaches_the_grammar_the_modal_the_outbox_and_the_adapter(
    desk: DealDesk,
) -> None:
    deal = desk.get("alone")
    assert deal is not None
    modal = blocks.update_modal(deal, desk.stage_options("default"), {}, t=translator("en"))
    modal_inputs = {b["block_id"]: b["label"]["text"] for b in modal["blocks"] if b["type"] == "input"}
    help_text = format_help()
    update_fields = {f.name for f in dataclasses.fields(DealUpdate)}
    assert tuple(f.key for f in FIELDS) == KEYS
    for field in FIELDS:
        command = parse_command(f"acme {field.key}={field.example}")
        assert isinstance(command, DealCommand) and command.changes[0][0] == field.key
        assert f"`{field.key}`" in help_text
        assert modal_inputs[field.key] == field.label
        assert field.name in update_fields and field.crm_property == EDITABLE_PROPERTIES[field.name]
    assert set(EDITABLE_PROPERTIES) == {f.name for f in FIELDS}


def test_a_change_goes_from_typed_text_to_the_crm_property_through_the_table(desk: DealDesk) -> None:
    deal = desk.get("alone")
    assert deal is not None
    accepted = desk._resolve(  # the desk's parse, table-driven
        deal,
        [("stage", "qual"), ("amount", "12k"), ("close", "2026-12-15"), ("next", " Send MSA ")],
        lambda: desk.stage_options("default"),
        today=TODAY,
    )
    changes, problems = accepted
    assert problems == []
    assert changes == {
        "stage_id": "qualified",
        "amount": "12000",
        "close_date": "2026-12-15",
        "next_step": "Send MSA",
    }
    update = deal_update(changes)
    assert update == DealUpdate(
        stage_id="qualified", amount=Decimal(12000), close_date=date(2026, 12, 15), next_step="Send MSA"
    )
    properties = _update_properties(update)
    assert properties == {
        "dealstage": "qualified",
        "amount": "12000",
        "closedate": "2026-12-15T00:00:00.000Z",
        "hs_next_step": "Send MSA",
    }


def test_the_modal_sends_only_what_was_edited_and_shows_problems_on_their_field(desk: DealDesk) -> None:
    deal = desk.get("alone")
    assert deal is not None
    unchanged = {"stage": "qualified", "amount": "1000", "close": deal.stored("close_date"), "next": "Call"}
    assert modal_changes(deal, unchanged) == ([], {})
    changes, problems = modal_changes(deal, {**unchanged, "amount": "12 apples", "next": "Send MSA"})
    assert changes == [("next", "Send MSA")]
    assert set(problems) == {"amount"}
