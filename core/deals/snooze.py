"""Snoozing a deal: hidden from nudges until a date; the reason is logged as a note (not a review)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session, sessionmaker

from core.deals import refusals
from core.deals.desk import Accepted, DealDesk, Refused
from core.models import Snooze
from core.people import Actor


def snooze_deal(
    sessions: sessionmaker[Session],
    desk: DealDesk,
    actor: Actor,
    deal_id: str,
    *,
    until: date,
    reason: str | None,
    now: datetime,
) -> Accepted | Refused:
    t = actor.t
    deal = desk.get(deal_id)
    if deal is None:
        return Refused(t._(refusals.DEAL_GONE))
    if deal.is_closed:
        return Refused(refusals.already_closed(deal.name, deal.stage_label, t=t, snoozing=True))
    if until <= actor.local_now(now).date():
        return Refused(t._(refusals.DATE_NOT_AFTER_TODAY))
    # Written on the person's behalf, so in their words: their language, as their own notes are.
    if reason and reason.strip():
        note = t._("Snoozed in Slack until {date} ({reason}).", date=t.date(until), reason=reason.strip())
    else:
        note = t._("Snoozed in Slack until {date}.", date=t.date(until))
    result = desk.accept(actor, deal_id, [], note, source="nudge")
    if isinstance(result, Refused):
        return result
    with sessions.begin() as session:
        previous = session.get(Snooze, deal_id)
        # The view's last review already sees through an earlier snooze's own note.
        touched_before = deal.last_review
        row = previous or Snooze(deal_id=deal_id)
        row.until = until
        row.reason = reason.strip() if reason else None
        row.snoozed_by = actor.slack_id
        row.snoozed_at = now
        row.touched_before = touched_before
        session.add(row)
    return result
