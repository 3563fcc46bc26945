"""Who is who: Slack people matched to CRM owners by email, with the rituals file's `people:` winning.

No Slack import here: the Slack profile lookup is handed in as a function.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.i18n import DEFAULT_LANGUAGE, Language, Translator, pick_language, translator
from core.models import MirrorOwner, SlackPerson
from core.sql import dialect_insert

log = logging.getLogger(__name__)

PROFILE_MAX_AGE = timedelta(hours=24)
ACTOR_TTL_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class SlackProfile:
    slack_id: str
    email: str | None
    name: str
    tz: str | None
    locale: str | None = None  # Slack's `fr-FR`, `en-US`; None when Slack did not say


@dataclass(frozen=True, slots=True)
class PersonLink:
    """One `people:` entry: a CRM owner (id or email), a Slack user (id or email), their manager,
    and the language they read when it is not their Slack locale's."""

    crm_owner: str
    slack: str
    manager: str | None = None
    language: Language | None = None


@dataclass(frozen=True, slots=True)
class Actor:
    slack_id: str
    email: str | None
    name: str
    tz: ZoneInfo
    owner_id: str | None
    is_admin: bool
    report_owner_ids: frozenset[str]
    language: Language = DEFAULT_LANGUAGE

    @property
    def t(self) -> Translator:
        """Their language's messages, money and dates."""
        return translator(self.language)

    @property
    def is_linked(self) -> bool:
        return self.owner_id is not None

    def local_now(self, now: datetime) -> datetime:
        return now.astimezone(self.tz)


ProfileLookup = Callable[[str], SlackProfile | None]


class LookupUnavailable(Exception):
    """Slack could not be asked (outage, rate limit, missing scope): not the same as "no such person"."""


class PeopleDirectory:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        lookup_profile: ProfileLookup,
        *,
        admins: Iterable[str] = (),
        links: Iterable[PersonLink] = (),
        default_tz: str = "UTC",
        default_language: Language = DEFAULT_LANGUAGE,
        clock: Callable[[], datetime],
        lookup_email: ProfileLookup | None = None,
        read_only: bool = False,
    ) -> None:
        self._sessions = sessions
        self._lookup = lookup_profile
        self._lookup_email = lookup_email
        self._read_only = read_only
        self._admins = {a.strip().lower() for a in admins}
        self._links = tuple(links)
        self._default_tz = default_tz
        self._default_language = default_language
        self._clock = clock
        self._actors: dict[str, tuple[float, Actor]] = {}
        self._actors_lock = threading.Lock()

    def update(
        self,
        *,
        admins: Iterable[str],
        links: Iterable[PersonLink],
        default_tz: str,
        default_language: Language = DEFAULT_LANGUAGE,
    ) -> None:
        """A reloaded rituals file: new admins, `people:` overrides, default zone and language."""
        self._admins = {a.strip().lower() for a in admins}
        self._links = tuple(links)
        self._default_tz = default_tz
        self._default_language = default_language
        with self._actors_lock:
            self._actors.clear()

    def actor(self, slack_id: str) -> Actor:
        """Who is asking; kept for a minute, since every click and command needs it before the ack."""
        now = time.monotonic()
        with self._actors_lock:
            cached = self._actors.get(slack_id)
        if cached is not None and now - cached[0] < ACTOR_TTL_SECONDS:
            return cached[1]
        actor = self._build_actor(slack_id)
        with self._actors_lock:
            self._actors[slack_id] = (now, actor)
        return actor

    def _build_actor(self, slack_id: str) -> Actor:
        profile = self.profile(slack_id, wait=False)
        keys = {slack_id.lower()} | ({profile.email.lower()} if profile and profile.email else set())
        with self._sessions() as session:
            owner_id = self._linked_owner(session, keys) or _owner_by_email(session, profile)
            reports = frozenset(
                owner
                for link in self._links
                if link.manager and link.manager.lower() in keys
                for owner in [_resolve_owner(session, link.crm_owner)]
                if owner is not None
            )
        return Actor(
            slack_id=slack_id,
            email=profile.email if profile else None,
            name=profile.name if profile else slack_id,
            tz=_zone(profile.tz if profile else None, self._default_tz),
            owner_id=owner_id,
            is_admin=bool(keys & self._admins),
            report_owner_ids=reports,
            language=self._language(keys, profile),
        )

    @property
    def default_language(self) -> Language:
        """The rituals file's `language:`: channel posts and people Drumbeat knows nothing about."""
        return self._default_language

    def language_of(self, profile: SlackProfile | None) -> Language:
        """What a person reads: their `people:` language, else their Slack locale's, else the default."""
        if profile is None:
            return self._default_language
        keys = {profile.slack_id.lower()} | ({profile.email.lower()} if profile.email else set())
        return self._language(keys, profile)

    def _language(self, keys: set[str], profile: SlackProfile | None) -> Language:
        chosen = next((link.language for link in self._links if link.slack.lower() in keys), None)
        return pick_language(chosen, profile.locale if profile else None, self._default_language)

    def profile(self, slack_id: str, *, wait: bool = True) -> SlackProfile | None:
        """The cached Slack profile, looked up again once a day.

        `wait=False` (before an acknowledgement) answers from a day-old profile at once and refreshes
        it in the background; only someone Drumbeat has never seen costs a Slack call there.
        """
        now = self._clock()
        with self._sessions() as session:
            cached = session.get(SlackPerson, slack_id)
            if cached is not None and now - cached.refreshed_at < PROFILE_MAX_AGE:
                return _cached_profile(cached)
        if cached is not None and not wait:
            threading.Thread(target=self._refresh_quietly, args=(slack_id,), daemon=True).start()
            return _cached_profile(cached)
        try:
            fresh = self._lookup(slack_id)
        except LookupUnavailable:
            if cached is None:
                raise
            fresh = None  # yesterday's profile beats no answer
        if fresh is None:
            return _cached_profile(cached) if cached else None
        self._remember(fresh)
        return fresh

    def _refresh_quietly(self, slack_id: str) -> None:
        try:
            self.profile(slack_id)
        except LookupUnavailable as exc:
            log.info("Slack profile of %s not refreshed: %s", slack_id, exc)

    def slack_for_owner(self, owner_id: str) -> SlackProfile | None:
        """The Slack person for a CRM owner: `people:` first, else the owner's email in Slack."""
        with self._sessions() as session:
            for link in self._links:
                if _resolve_owner(session, link.crm_owner) == owner_id:
                    return (
                        self.profile(link.slack)
                        if "@" not in link.slack
                        else self.profile_by_email(link.slack)
                    )
            owner = session.get(MirrorOwner, owner_id)
        if owner is None or not owner.email:
            return None
        return self.profile_by_email(owner.email)

    def profile_by_email(self, email: str) -> SlackProfile | None:
        now = self._clock()
        with self._sessions() as session:
            cached = session.scalars(
                select(SlackPerson).where(func.lower(SlackPerson.email) == email.lower())
            ).first()
            if cached is not None and now - cached.refreshed_at < PROFILE_MAX_AGE:
                return _cached_profile(cached)
        try:
            fresh = self._lookup_email(email) if self._lookup_email else None
        except LookupUnavailable:
            if cached is None:
                raise
            fresh = None
        if fresh is None:
            return _cached_profile(cached) if cached else None
        self._remember(fresh)
        return fresh

    def _remember(self, fresh: SlackProfile) -> None:
        if self._read_only:
            return
        now = self._clock()
        slack_id = fresh.slack_id
        values = {
            "email": fresh.email.lower() if fresh.email else None,
            "name": fresh.name,
            "tz": fresh.tz,
            "locale": fresh.locale,
            "refreshed_at": now,
        }
        with self._sessions.begin() as session:
            # Replicas may look the same person up at once: last writer wins, nobody fails.
            insert = dialect_insert(session)
            session.execute(
                insert(SlackPerson)
                .values(slack_id=slack_id, **values)
                .on_conflict_do_update(index_elements=["slack_id"], set_=values)
            )

    def owner_name(self, owner_id: str | None) -> str:
        if owner_id is None:
            return "nobody"
        with self._sessions() as session:
            owner = session.get(MirrorOwner, owner_id)
        if owner is None:
            return f"owner {owner_id}"
        return owner.name

    def _linked_owner(self, session: Session, keys: set[str]) -> str | None:
        for link in self._links:
            if link.slack.lower() in keys:
                return _resolve_owner(session, link.crm_owner)
        return None


def _cached_profile(cached: SlackPerson) -> SlackProfile:
    return SlackProfile(cached.slack_id, cached.email, cached.name, cached.tz, cached.locale)


def _resolve_owner(session: Session, id_or_email: str) -> str | None:
    if "@" not in id_or_email:
        return id_or_email
    return session.scalar(select(MirrorOwner.id).where(func.lower(MirrorOwner.email) == id_or_email.lower()))


def _owner_by_email(session: Session, profile: SlackProfile | None) -> str | None:
    if profile is None or not profile.email:
        return None
    return session.scalar(
        select(MirrorOwner.id)
        .where(func.lower(MirrorOwner.email) == profile.email.lower(), MirrorOwner.archived.is_(False))
        .order_by(MirrorOwner.id)
    )


def _zone(name: str | None, default: str) -> ZoneInfo:
    for candidate in (name, default, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")
