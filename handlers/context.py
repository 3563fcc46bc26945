"""What listeners need, built once per app by the factory in `bot.slack_app`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from core.deals.desk import DealDesk
from core.people import PeopleDirectory


@dataclass(frozen=True)
class HandlerContext:
    desk: DealDesk
    people: PeopleDirectory
    sessions: sessionmaker[Session]
    clock: Callable[[], datetime]
    wake_worker: Callable[[], None]
    crm_label: str
    receive_command: Callable[[str, str, str | None], None] | None = None  # None: answer in the ack
    command: str = "/deal"
    aliases: Mapping[str, str] | None = None
