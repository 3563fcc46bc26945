"""Answers to a nudge DM: still on track, mark lost, snooze, update. Each answer is recorded on the
nudges it answers (for the adoption report), once the change behind it is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from core.deals.commands import DealCommands, DealForm, DealList, Outcome
from core.deals.desk import Accepted, Refused
from core.deals.snooze import snooze_deal
from core.models import NudgeRecord

__all__ = ["NudgeAnswers", "Snoozed"]


@dataclass(frozen=True, slots=True)
class Snoozed:
    """The deal is hidden from nudges until `until`; the snooze's note is in the outbox."""

    deal_id: str
    until: date


class NudgeAnswers:
    def __init__(self, sessions: sessionmaker[Session], deals: DealCommands) -> None:
        self._sessions = sessions
        self._deals = deals

    def button(self, user_id: str, verb: str, deal_id: str) -> Outcome:
        """Still on track (`on_track`) or Mark lost (`mark_lost`) clicked in a nudge."""
        outcome = self._deals.button(user_id, verb, deal_id, None, source="nudge")
        if isinstance(outcome, Accepted):
            self._record(user_id, deal_id, verb)
        return outcome

    def open_update(self, user_id: str, deal_id: str) -> DealForm | Refused:
        """Update… clicked in a nudge: the modal's content; opening it counts as the answer."""
        form = self._deals.form(user_id, deal_id)
        if isinstance(form, DealForm):
            self._record(user_id, deal_id, "update")
        return form

    def snooze_for(self, user_id: str, deal_id: str, days: int) -> Snoozed | Refused:
        """Snooze for `days` days, counted from the person's own today."""
        actor = self._deals.people.actor(user_id)
        until = actor.local_now(self._deals.clock()).date() + timedelta(days=days)
        return self.snooze_until(user_id, deal_id, until, reason=None)

    def snooze_until(
        self, user_id: str, deal_id: str, until: date, *, reason: str | None
    ) -> Snoozed | Refused:
        """Snooze until a date, with an optional reason logged as a note on the deal."""
        actor = self._deals.people.actor(user_id)
        deals = self._deals
        result = snooze_deal(
            self._sessions, deals.desk, actor, deal_id, until=until, reason=reason, now=deals.clock()
        )
        if isinstance(result, Refused):
            return result
        self._record(user_id, deal_id, "snooze")
        return Snoozed(deal_id, until)

    def stale_deals(self, user_id: str) -> DealList:
        """See the other N: every one of the person's open deals that is stale, most urgent first."""
        deals = self._deals
        actor = deals.people.actor(user_id)
        now = deals.clock()
        today = actor.local_now(now).date()
        stale_after_days = deals.desk.stale_after_days
        stale = [d for d in deals.desk.my_open_deals(actor) if d.is_stale(now, stale_after_days, today=today)]
        return DealList(stale, now, today, stale_after_days)

    def _record(self, user_id: str, deal_id: str, answer: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(NudgeRecord)
                .where(
                    NudgeRecord.slack_user == user_id,
                    NudgeRecord.deal_id == deal_id,
                    NudgeRecord.answered_at.is_(None),
                )
                .values(answered_at=self._deals.clock(), answer=answer)
            )
