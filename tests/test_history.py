"""Pipeline snapshots: every sync records what changed, nothing when nothing did, old states expire,
and two replicas recording the same change at once keep one history."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db import create_db_engine, session_factory
from core.mirror.history import close_date_pushes, record_states, states_at
from core.mirror.sync import sync_mirror
from core.models import DealHistory
from integrations.base import Deal
from integrations.demo import DemoCRM
from integrations.demo_seed import seed_demo_crm
from integrations.demo_store import DemoDeal

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def crm(sessions: sessionmaker[Session]) -> DemoCRM:
    with sessions.begin() as session:
        seed_demo_crm(session, NOW - timedelta(days=30))
    return DemoCRM(sessions)


def _rows(sessions: sessionmaker[Session], deal_id: str | None = None) -> list[DealHistory]:
    with sessions() as session:
        query = select(DealHistory).order_by(DealHistory.deal_id, DealHistory.valid_from)
        if deal_id is not None:
            query = query.where(DealHistory.deal_id == deal_id)
        return list(session.scalars(query))


def _change(sessions: sessionmaker[Session], deal_id: int, at: datetime, **values: object) -> None:
    with sessions.begin() as session:
        session.execute(update(DemoDeal).where(DemoDeal.id == deal_id).values(last_modified_at=at, **values))


def test_the_first_sync_records_every_deal_and_an_unchanged_one_records_nothing(
    sessions: sessionmaker[Session], crm: DemoCRM
) -> None:
    first = sync_mirror(crm, sessions, now=NOW - timedelta(days=7), full=True)
    rows = _rows(sessions)
    assert len(rows) == first.deals_read == 40
    assert all(r.valid_to is None for r in rows)
    sync_mirror(crm, sessions, now=NOW - timedelta(days=6), full=True)
    assert len(_rows(sessions)) == 40


def test_a_change_closes_the_old_state_and_opens_a_new_one(
    sessions: sessionmaker[Session], crm: DemoCRM
) -> None:
    week_ago = NOW - timedelta(days=7)
    sync_mirror(crm, sessions, now=week_ago, full=True)
    before = _rows(sessions, "1000")[0]
    _change(sessions, 1000, NOW - timedelta(hours=2), stage_id="contractsent", amount=Decimal("12345.67891"))
    sync_mirror(crm, sessions, now=NOW)
    sync_mirror(crm, sessions, now=NOW + timedelta(minutes=5))  # re-reads it: same state, no new row
    old, new = _rows(sessions, "1000")
    assert (old.stage_id, old.valid_from, old.valid_to) == (before.stage_id, week_ago, NOW)
    assert (new.stage_id, new.valid_from, new.valid_to) == ("contractsent", NOW, None)
    with sessions() as session:
        assert states_at(session, week_ago + timedelta(days=1))["1000"].stage_id == before.stage_id
        assert states_at(session, NOW, ["1000"])["1000"].stage_id == "contractsent"
        # Without ids: only deals that changed since, as they were then.
        assert set(states_at(session, week_ago + timedelta(days=1))) == {"1000"}


def test_close_date_pushes_count_each_move_later(sessions: sessionmaker[Session], crm: DemoCRM) -> None:
    sync_mirror(crm, sessions, now=NOW - timedelta(days=20), full=True)
    with sessions() as session:
        first = states_at(session, NOW - timedelta(days=20), ["1001"])["1001"]
    assert first.close_date is not None
    for days, later in ((10, 15), (5, 40), (1, 30)):  # pushed, pushed again, then pulled in
        _change(
            sessions, 1001, NOW - timedelta(days=days), close_date=first.close_date + timedelta(days=later)
        )
        sync_mirror(crm, sessions, now=NOW - timedelta(days=days) + timedelta(minutes=1))
    with sessions() as session:
        assert close_date_pushes(session, ["1001", "1002"], NOW - timedelta(days=60)) == {"1001": 2}
        assert close_date_pushes(session, ["1001"], NOW - timedelta(days=7)) == {"1001": 1}


def test_states_older_than_the_retention_window_are_forgotten(
    sessions: sessionmaker[Session], crm: DemoCRM
) -> None:
    start = NOW - timedelta(weeks=30)
    sync_mirror(crm, sessions, now=start, full=True)
    _change(sessions, 1000, start + timedelta(days=1), stage_id="contractsent")
    sync_mirror(crm, sessions, now=start + timedelta(days=1, minutes=1), full=True)
    assert len(_rows(sessions, "1000")) == 2
    sync_mirror(crm, sessions, now=NOW, history_retention=timedelta(weeks=26))
    rows = _rows(sessions, "1000")
    assert [(r.stage_id, r.valid_to) for r in rows] == [("contractsent", None)]
    assert len(_rows(sessions)) == 40  # every deal keeps its current state


def test_a_deal_deleted_in_the_crm_ends_its_history(sessions: sessionmaker[Session], crm: DemoCRM) -> None:
    sync_mirror(crm, sessions, now=NOW - timedelta(days=2), full=True)
    with sessions.begin() as session:
        session.execute(DemoDeal.__table__.delete().where(DemoDeal.id == 1003))
    sync_mirror(crm, sessions, now=NOW, full=True)
    (row,) = _rows(sessions, "1003")
    assert row.valid_to == NOW
    with sessions() as session:
        assert "1003" in states_at(session, NOW - timedelta(days=1))
        assert "1003" not in states_at(session, NOW, ["1003"])


def _deal(deal_id: str, stage: str, amount: int) -> Deal:
    return Deal(
        id=deal_id,
        name=f"Deal {deal_id}",
        owner_id="101",
        pipeline_id="default",
        stage_id=stage,
        amount=Decimal(amount),
        currency="EUR",
        close_date=None,
        next_step=None,
        last_activity_at=None,
        last_modified_at=NOW,
        created_at=NOW,
        is_closed=False,
        is_won=False,
    )


@pytest.mark.postgres
def test_two_replicas_recording_the_same_changes_at_once_keep_one_history(migrated_postgres_url: str) -> None:
    replicas = [create_db_engine(migrated_postgres_url) for _ in range(2)]
    factories = [session_factory(engine) for engine in replicas]
    deals = [str(i) for i in range(50)]
    stages = ["appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "contractsent"]
    try:
        for step in range(12):
            at = NOW + timedelta(minutes=step)
            page = [_deal(d, stages[(step + int(d)) % len(stages)], 1000 + step) for d in deals]
            barrier = threading.Barrier(2)
            errors: list[BaseException] = []

            def record(
                factory: sessionmaker[Session],
                page: list[Deal] = page,
                at: datetime = at,
                barrier: threading.Barrier = barrier,
                errors: list[BaseException] = errors,
            ) -> None:
                try:
                    barrier.wait()
                    with factory.begin() as session:
                        record_states(session, page, at)
                except BaseException as exc:  # reported below, in the test's own thread
                    errors.append(exc)

            threads = [threading.Thread(target=record, args=(f,)) for f in factories]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert errors == []
        with factories[0]() as session:
            current = dict(
                session.execute(
                    select(DealHistory.deal_id, func.count())
                    .where(DealHistory.valid_to.is_(None))
                    .group_by(DealHistory.deal_id)
                ).all()
            )
            per_deal = dict(
                session.execute(select(DealHistory.deal_id, func.count()).group_by(DealHistory.deal_id)).all()
            )
            latest = states_at(session, NOW + timedelta(minutes=11), deals)
    finally:
        for engine in replicas:
            engine.dispose()
    assert current == dict.fromkeys(deals, 1)  # exactly one current state per deal
    assert per_deal == dict.fromkeys(deals, 12)  # each of the 12 changes once, never twice
    assert {s.amount for s in latest.values()} == {Decimal(1011)}


def test_an_upgraded_mirror_starts_its_history_so_an_old_deal_changed_later_is_not_new(
    sessions: sessionmaker[Session], crm: DemoCRM
) -> None:
    sync_mirror(crm, sessions, now=NOW - timedelta(days=2), full=True)
    with sessions.begin() as session:  # the mirror as migration 0006 finds it: no history yet
        session.execute(DealHistory.__table__.delete())
    _change(sessions, 1000, NOW - timedelta(minutes=1), stage_id="contractsent")
    sync_mirror(crm, sessions, now=NOW)
    assert len([r for r in _rows(sessions) if r.valid_to is None]) == 40
    before, after = _rows(sessions, "1000")
    assert before.stage_id != "contractsent" and before.valid_from == NOW
    assert (after.stage_id, after.valid_to) == ("contractsent", None)
    with sessions() as session:
        assert states_at(session, NOW, ["1000"])["1000"].stage_id == before.stage_id


def test_a_clock_set_back_never_overwrites_recorded_history(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        record_states(session, [_deal("7", "qualifiedtobuy", 1000)], NOW)
        record_states(
            session, [_deal("7", "contractsent", 1000)], NOW - timedelta(days=3)
        )  # `--now` in the past
        record_states(session, [_deal("7", "closedwon", 1000)], NOW - timedelta(days=3))
    rows = _rows(sessions, "7")
    assert [r.stage_id for r in rows] == ["qualifiedtobuy", "contractsent", "closedwon"]
    assert rows[0].valid_to == rows[1].valid_from and rows[1].valid_to == rows[2].valid_from
    assert rows[0].valid_from < rows[1].valid_from < rows[2].valid_from


def test_a_clock_set_in_the_future_prunes_nothing_real(sessions: sessionmaker[Session], crm: DemoCRM) -> None:
    sync_mirror(crm, sessions, now=NOW - timedelta(days=10), full=True)
    _change(sessions, 1000, NOW - timedelta(days=5), stage_id="contractsent")
    sync_mirror(crm, sessions, now=NOW - timedelta(days=5) + timedelta(minutes=1), full=True)
    sync_mirror(crm, sessions, now=NOW + timedelta(weeks=60))  # `drumbeat run --now` far ahead
    assert len(_rows(sessions, "1000")) == 2
