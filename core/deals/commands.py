"""What a person asks of Drumbeat about deals from Slack: `/deal …`, a card's buttons, a picker, a modal.

Each use case takes the raw request, parses it once, finds the deal, lets `DealDesk.accept` check,
permit and store the change, and returns a typed outcome: the Slack listener renders it and never
looks at the database or at the wording of a message. Reads come from the mirror and changes go
to the outbox (never the CRM), so every use case is fast enough to run before Slack's ack.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType

from sqlalchemy.orm import Session, sessionmaker

from core.deals import refusals
from core.deals.desk import Accepted, DealDesk, DealView, Refused, Unchanged
from core.deals.fields import modal_changes
from core.deals.grammar import (
    Command,
    DealCommand,
    ListMine,
    ParseError,
    ShowHelp,
    format_help,
    parse_command,
)
from core.deals.pending import PendingChoices
from core.deals.permissions import NOT_LINKED
from core.deals.streaks import current_streak, record_review_week
from core.deals.values import StageOption, control_character
from core.i18n import N_, Translator, translator
from core.people import Actor, LookupUnavailable, PeopleDirectory

__all__ = [
    "ON_TRACK_NOTE",
    "Accepted",
    "AlreadyClosed",
    "Card",
    "Choose",
    "DealCommands",
    "DealForm",
    "DealList",
    "FormProblems",
    "NoLostStage",
    "NoMatch",
    "Outcome",
    "Overview",
    "Refused",
    "Stored",
    "Unchanged",
    "Usage",
    "control_problem",
]

# Written to the CRM on the person's behalf, in their language (`actor.t`), as their own notes are.
ON_TRACK_NOTE = N_("Reviewed in Slack with Drumbeat: still on track.")
WHO_ARE_YOU = N_("Slack didn't tell me who you are just now, so nothing was changed. Please try again.")

StoreCommand = Callable[[str, str, str | None], None]

# A modal's text that holds a control character, said whole for each field it can be in.
FIELD_CONTROL = N_(
    "This field has a control character ({found}) that can't be saved; remove it and send again."
)
NOTE_CONTROL = N_("The note has a control character ({found}) that can't be saved; remove it and send again.")


def control_problem(text: str, message: str, *, t: Translator) -> str | None:
    """`message` (naming `{found}`) in the reader's language when `text` holds a control character."""
    found = control_character(text)
    return None if found is None else t._(message, found=found)


# --- outcomes: what the person is shown, decided here and rendered by the listener ---


@dataclass(frozen=True, slots=True)
class Usage:
    """`/deal help`: the usage text (Slack mrkdwn)."""

    text: str


@dataclass(frozen=True, slots=True)
class Stored:
    """An update stored as typed: it is worked out right after the ack and answered then."""


@dataclass(frozen=True, slots=True)
class DealList:
    """Deals to list; `today` is the person's own."""

    deals: list[DealView]
    now: datetime
    today: date
    stale_after_days: int


@dataclass(frozen=True, slots=True)
class Card:
    """One deal to show in full."""

    deal: DealView
    now: datetime
    today: date
    stale_after_days: int


@dataclass(frozen=True, slots=True)
class NoMatch:
    """No deal's name holds every word of `query`."""

    query: str


@dataclass(frozen=True, slots=True)
class Choose:
    """Several deals match; `choice_id` names the update waiting for the pick (None for a search)."""

    query: str
    matches: list[DealView]
    choice_id: str | None


@dataclass(frozen=True, slots=True)
class AlreadyClosed:
    """Mark lost on a deal that is already closed."""

    deal: DealView


@dataclass(frozen=True, slots=True)
class NoLostStage:
    """Mark lost on a deal whose pipeline has no closed-lost stage."""

    deal: DealView


@dataclass(frozen=True, slots=True)
class DealForm:
    """What the update and note modals show: the deal and its pipeline's stages."""

    deal: DealView
    stages: list[StageOption]


@dataclass(frozen=True, slots=True)
class FormProblems:
    """A modal's fields that need another look, by field name (stage, amount, close, next, note)."""

    errors: dict[str, str]


@dataclass(frozen=True, slots=True)
class Overview:
    """App Home's facts for a person linked to a CRM owner: open deals, the fresh ones, the streak."""

    deals: list[DealView]
    fresh: list[DealView]
    streak: int
    now: datetime
    today: date
    stale_after_days: int


# `Unchanged` (a kind of `Refused`): every field already holds its value, so nothing was stored.
Outcome = (
    Usage | Stored | DealList | Card | NoMatch | Choose | AlreadyClosed | NoLostStage | Accepted | Refused
)


class DealCommands:
    """The deal use cases behind every Slack listener: one method per thing a person can do."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        desk: DealDesk,
        people: PeopleDirectory,
        *,
        clock: Callable[[], datetime],
        crm_label: str,
        command: str = "/deal",
        aliases: Mapping[str, str] = MappingProxyType({}),
        store_command: StoreCommand | None = None,
        wake_worker: Callable[[], None] = lambda: None,
    ) -> None:
        """`store_command` keeps an update as typed, to be answered after the ack (`answer` works it
        out then); without it updates are answered at once. `wake_worker` tells the outbox worker a
        change is waiting: listeners call it after acking, so the ack never waits for it."""
        self._sessions = sessions
        self.desk = desk
        self.people = people
        self.clock = clock
        self.crm_label = crm_label
        self.command = command
        self.aliases = aliases
        self.wake_worker = wake_worker
        self._store_command = store_command
        self._pending = PendingChoices(sessions, clock)

    # --- /deal ---

    def receive(self, user_id: str, text: str, response_url: str | None) -> Outcome:
        """`/deal TEXT` as it arrives: help, lists and searches are answered now; updates and notes
        are stored as typed (`Stored`) when a store is wired, else answered now too."""
        command = self._parse(text)
        if self._store_command is not None and isinstance(command, DealCommand) and not command.is_search:
            self._store_command(user_id, text, response_url)
            return Stored()
        return self._answer(user_id, command, text, response_url, key=None)

    def answer(self, user_id: str, text: str, response_url: str | None, *, key: str | None = None) -> Outcome:
        """The answer to `/deal TEXT`; `key` makes a retried update store its change only once."""
        return self._answer(user_id, self._parse(text), text, response_url, key=key)

    def _answer(
        self, user_id: str, command: Command, text: str, response_url: str | None, *, key: str | None
    ) -> Outcome:
        if isinstance(command, ShowHelp | ParseError):
            # Said in the person's language: parsed again, for them (parsing is pure and quick).
            t = self.reader(user_id)
            if isinstance(command, ShowHelp):
                return Usage(format_help(self.command, self.aliases, t=t))
            in_their_words = self._parse(text, t)
            problem = in_their_words if isinstance(in_their_words, ParseError) else command
            return Refused(
                t._(
                    "{problem}\nType `{command} help` for examples.",
                    problem=problem.message,
                    command=self.command,
                )
            )
        try:
            actor = self.people.actor(user_id)
        except LookupUnavailable:
            return Refused(translator(self.people.default_language)._(WHO_ARE_YOU))
        if isinstance(command, ListMine):
            if not actor.is_linked:
                return Refused(actor.t._(NOT_LINKED))
            return self._list(actor, self.desk.my_open_deals(actor))
        matches = self.desk.find(command.query)
        if not matches:
            return NoMatch(command.query)
        if len(matches) > 1:
            # An update waits for the pick; a search has nothing to keep.
            choice_id = None if command.is_search else self._pending.remember(user_id, text)
            return Choose(command.query, matches, choice_id)
        if command.is_search:
            return self._card(actor, matches[0])
        return self._accept(
            actor, matches[0], list(command.changes), command.note, "slash", response_url, key
        )

    # --- pickers and buttons ---

    def pick(self, user_id: str, choice_id: str | None, deal_id: str, response_url: str | None) -> Outcome:
        """A deal chosen from a picker: its card (`choice_id` None, a search), or the waiting update."""
        actor = self.people.actor(user_id)
        deal = self.desk.get(deal_id)
        if deal is None:
            return Refused(actor.t._(refusals.DEAL_GONE))
        if choice_id is None:
            return self._card(actor, deal)
        expired = Refused(
            actor.t._("That choice has expired. Run your `{command}` command again.", command=self.command)
        )
        text = self._pending.take(choice_id, user_id)
        if text is None:
            return expired
        command = self._parse(text)
        if not isinstance(command, DealCommand):
            return expired
        return self._accept(actor, deal, list(command.changes), command.note, "slash", response_url, None)

    def button(
        self, user_id: str, verb: str, deal_id: str, response_url: str | None, *, source: str = "button"
    ) -> Outcome:
        """Show card, Still on track or Mark lost, from a card, a list or a nudge."""
        actor = self.people.actor(user_id)
        deal = self.desk.get(deal_id)
        if deal is None:
            return Refused(actor.t._(refusals.DEAL_GONE))
        if verb == "card":
            return self._card(actor, deal)
        if verb == "on_track":
            return self._accept(actor, deal, [], actor.t._(ON_TRACK_NOTE), source, response_url, None)
        if verb == "mark_lost":
            if deal.is_closed:
                return AlreadyClosed(deal)
            lost = self.desk.closed_lost_stage(deal.pipeline_id)
            if lost is None:
                return NoLostStage(deal)
            changes = [("stage", lost.id)]
            return self._accept(actor, deal, changes, None, source, response_url, None)
        return Refused(actor.t._("I don't know that button."))

    # --- modals ---

    def form(self, user_id: str, deal_id: str, *, with_stages: bool = True) -> DealForm | Refused:
        """What the update modal (`with_stages`) or the note modal shows to `user_id`."""
        deal = self.desk.get(deal_id)
        if deal is None:
            return Refused(self.reader(user_id)._(refusals.DEAL_GONE))
        return DealForm(deal, self.desk.stage_options(deal.pipeline_id) if with_stages else [])

    def submit_update(
        self, user_id: str, deal_id: str, submitted: Mapping[str, str | None], *, response_url: str | None
    ) -> Accepted | Refused | FormProblems:
        """The update modal, submitted (inputs by field key): only the fields edited change, and a
        value that cannot be right is shown on its own input."""
        for key, value in submitted.items():
            problem = control_problem(value or "", FIELD_CONTROL, t=self.reader(user_id))
            if problem is not None:  # never reaches the database or the CRM
                return FormProblems({key: problem})
        actor = self.people.actor(user_id)
        deal = self.desk.get(deal_id)
        if deal is None:
            return FormProblems({"stage": actor.t._(refusals.DEAL_GONE)})
        changes, problems = modal_changes(deal, submitted, t=actor.t)
        if problems:
            return FormProblems(problems)
        return self.desk.accept(actor, deal, changes, None, source="modal", response_url=response_url)

    def submit_note(
        self, user_id: str, deal_id: str, note: str, *, response_url: str | None
    ) -> Accepted | Refused | FormProblems:
        """The note modal, submitted."""
        problem = control_problem(note, NOTE_CONTROL, t=self.reader(user_id))
        if problem is not None:  # never reaches the database or the CRM
            return FormProblems({"note": problem})
        actor = self.people.actor(user_id)
        deal = self.desk.get(deal_id)
        if deal is None:
            return FormProblems({"note": actor.t._(refusals.DEAL_GONE)})
        if not note.strip():
            return FormProblems({"note": actor.t._("Write something first.")})
        return self.desk.accept(actor, deal, [], note, source="modal", response_url=response_url)

    # --- App Home ---

    def overview(self, user_id: str) -> Overview | Refused:
        """My open deals, the fresh ones and my streak of up-to-date weeks (this week recorded first);
        `Refused(NOT_LINKED)` for a person with no CRM owner. Raises `LookupUnavailable`."""
        actor = self.people.actor(user_id)
        if not actor.is_linked or actor.owner_id is None:
            return Refused(actor.t._(NOT_LINKED))
        now = self.clock()
        today = actor.local_now(now).date()
        stale_after_days = self.desk.stale_after_days
        deals = self.desk.my_open_deals(actor)
        fresh = [d for d in deals if not d.is_stale(now, stale_after_days, today=today)]
        with self._sessions.begin() as session:
            # App Home shows every pipeline; the adoption trend's figures follow the stale_deals
            # ritual's, so they are left to it.
            record_review_week(
                session,
                actor.owner_id,
                today,
                open_deals=len(deals),
                reviewed_deals=len(fresh),
                keep_figures=False,
            )
            streak = current_streak(session, actor.owner_id, today)
        return Overview(deals, fresh, streak, now, today, stale_after_days)

    # --- shared steps ---

    def _parse(self, text: str, t: Translator | None = None) -> Command:
        return parse_command(text, aliases=self.aliases, command=self.command, t=t or translator("en"))

    def reader(self, user_id: str) -> Translator:
        """The language `user_id` reads; the rituals file's when Slack cannot say who they are."""
        try:
            return self.people.actor(user_id).t
        except LookupUnavailable:
            return translator(self.people.default_language)

    def _list(self, actor: Actor, deals: list[DealView]) -> DealList:
        now = self.clock()
        return DealList(deals, now, actor.local_now(now).date(), self.desk.stale_after_days)

    def _card(self, actor: Actor, deal: DealView) -> Card:
        now = self.clock()
        return Card(deal, now, actor.local_now(now).date(), self.desk.stale_after_days)

    def _accept(
        self,
        actor: Actor,
        deal: DealView,
        changes: list[tuple[str, str]],
        note: str | None,
        source: str,
        response_url: str | None,
        key: str | None,
    ) -> Accepted | Refused:
        return self.desk.accept(
            actor, deal, changes, note, source=source, response_url=response_url, idempotency_key=key
        )
