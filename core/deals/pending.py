"""Updates waiting for a pick: `/deal acme amount=5k` matching several deals writes nothing until
the person chooses one from the list. The command is kept as typed, for its author only, for a while."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from core.models import PendingChoice

CHOICE_TTL = timedelta(minutes=30)


class PendingChoices:
    def __init__(self, sessions: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self._sessions = sessions
        self._clock = clock

    def remember(self, slack_user: str, command_text: str) -> str:
        """Keep a command until its author picks a deal; returns the id the picker carries."""
        choice_id = secrets.token_hex(8)
        now = self._clock()
        with self._sessions.begin() as session:
            # Forgotten choices are cleared here, as new ones arrive: no sweeper to schedule.
            session.execute(delete(PendingChoice).where(PendingChoice.created_at < now - CHOICE_TTL))
            session.add(
                PendingChoice(id=choice_id, slack_user=slack_user, command_text=command_text, created_at=now)
            )
        return choice_id

    def take(self, choice_id: str, slack_user: str) -> str | None:
        """The command waiting under `choice_id`, used up; None when it expired, was already taken
        or is someone else's."""
        with self._sessions.begin() as session:
            pending = session.get(PendingChoice, choice_id)
            if pending is not None:
                session.delete(pending)
        if (
            pending is None
            or pending.slack_user != slack_user
            or self._clock() - pending.created_at > CHOICE_TTL
        ):
            return None
        return pending.command_text
