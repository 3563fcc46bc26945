"""Which changes a deal alert's `when:` and `filters:` let through: the matching rule on its own."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from rituals.alerts import Change, matches
from rituals.config import DealAlertRitual, parse_rituals_text
from rituals.digest import DealScope

# Acme moved from Proposal to Contract Sent, 10,000 → 12,500 EUR, close date pushed 20 days.
ACME = Change(
    history_id=1,
    deal_id="1",
    at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
    deal_name="Acme",
    url="https://crm.example/1",
    is_new=False,
    pipeline_id="default",
    pipeline_label="Sales Pipeline",
    stage_id="contractsent",
    stage_label="Contract Sent",
    amount=Decimal(12500),
    currency="EUR",
    close_date=date(2027, 1, 20),
    owner_id="101",
    owner_name="Alice Martin",
    is_won=False,
    is_closed=False,
    before_stage_id="presentationscheduled",
    before_stage_label="Presentation Scheduled",
    before_amount=Decimal(10000),
    before_close_date=date(2026, 12, 31),
    before_owner_id="101",
    before_owner_name="Alice Martin",
)


def rule(when: str, filters: str = "") -> DealAlertRitual:
    text = f'rituals:\n  - {{id: r, kind: deal_alert, post_to: "#x", when: {when}{filters}}}\n'
    (parsed,) = parse_rituals_text(text).alerts
    return parsed


@pytest.mark.parametrize(
    ("when", "change", "expected"),
    [
        ("{stage_becomes: contractsent}", ACME, True),
        ("{stage_becomes: contract sent}", ACME, True),  # a label, any case
        ("{stage_becomes: [closedwon, Contract Sent]}", ACME, True),
        ("{stage_becomes: closedwon}", ACME, False),
        # Already in the stage: only a move into it counts.
        ("{stage_becomes: contractsent}", replace(ACME, before_stage_id="contractsent"), False),
        ("{stage_becomes: contractsent, pipeline: Sales Pipeline}", ACME, True),
        ("{stage_becomes: contractsent, pipeline: [renewals]}", ACME, False),
        ("{stage_becomes: contractsent, amount_at_least: 12500}", ACME, True),
        ("{stage_becomes: contractsent, amount_at_least: 12501}", ACME, False),
        ("{amount_changed_by_percent: 25}", ACME, True),  # +25%
        ("{amount_changed_by_percent: 26}", ACME, False),
        ("{amount_changed_by_percent: 20}", replace(ACME, amount=Decimal(8000)), True),  # -20%
        ("{amount_changed_by_percent: 20}", replace(ACME, before_amount=None), False),  # no before
        ("{close_date_pushed_by_days: 20}", ACME, True),
        ("{close_date_pushed_by_days: 21}", ACME, False),
        ("{close_date_pushed_by_days: 1}", replace(ACME, close_date=date(2026, 12, 1)), False),  # earlier
        ("{owner_changed: true}", ACME, False),
        ("{owner_changed: true}", replace(ACME, owner_id="102", owner_name="Bruno Costa"), True),
        ("{created: true}", ACME, False),
        ("{created: true}", replace(ACME, is_new=True, before_stage_id=None), True),
        # A deal created straight into the stage moved into it.
        ("{stage_becomes: contractsent}", replace(ACME, is_new=True, before_stage_id=None), True),
    ],
)
def test_every_condition_of_when_must_hold(when: str, change: Change, expected: bool) -> None:
    assert matches(rule(when), change) is expected


def test_filters_narrow_the_deals_to_their_pipelines_and_owners() -> None:
    alert = rule("{stage_becomes: contractsent}", ", filters: {owners: ['101']}")
    assert matches(alert, ACME, DealScope(None, frozenset({"101"})))
    assert not matches(alert, ACME, DealScope(None, frozenset({"102"})))
    assert not matches(alert, ACME, DealScope(frozenset({"renewals"}), None))
    assert matches(alert, ACME, DealScope(frozenset({"default"}), None))
