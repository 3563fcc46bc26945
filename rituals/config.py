"""The rituals file: its schema, its loader, and error messages an admin can act on.

``load_rituals_file`` / ``parse_rituals_text`` return a frozen ``RitualsConfig`` or raise
``ConfigError`` carrying every problem at once, each as ``file:line: key: what is wrong``:

    rituals.yaml:9: rituals[stale-deals].stale_after_day: unknown key (did you mean stale_after_days?)
    rituals.yaml:1: timezone: unknown time zone (did you mean Europe/Paris?)

``line`` is where the offending key (or list item) is written; ``key`` is a dotted path that names
rituals by id when it is known. Nothing here talks to Slack, the CRM or the database: stages,
pipelines and fields are checked against the CRM elsewhere (``drumbeat check-config``).

Schedules are five-field cron strings in the ritual's time zone (its own ``timezone``, else the
file's). Weekday numbers follow classic cron, 0 or 7 = Sunday, 1-5 = Monday to Friday; they are
translated for APScheduler 3, whose ``from_crontab`` would read 0 as Monday. A schedule that
restricts both the day of the month and the weekday is refused: classic cron fires when either
matches, APScheduler only when both do, and guessing wrong would be silent.

Daylight saving time, as APScheduler 3 does it (see ``next_firings``): a wall-clock time is kept
across the switch ("0 9 * * *" in Europe/Paris fires at 09:00 local, 08:00Z in winter, 07:00Z in
summer); a time that does not exist on the spring-forward day ("30 2 * * *" on the last Sunday of
March) fires one hour later by the clock, at 03:30 CEST (01:30Z), and is not skipped; a time that
happens twice on the fall-back day ("30 2 * * *" on the last Sunday of October) fires twice,
once in each offset, so whoever runs firings must treat both as the same firing.
"""

from __future__ import annotations

import calendar
import collections
import difflib
import functools
import re
import types
import typing
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

from core.deals.attention import MISSING_CHECKS
from core.deals.fields import KEYS, TYPED_KEYS
from core.i18n import N_, Translator
from core.i18n.message import Message
from rituals._yaml_lines import Loc, YamlSyntaxError, load_yaml_with_lines

__all__ = [
    "CANONICAL_DEAL_KEYS",
    "HYGIENE_CHECKS",
    "RITUAL_KINDS",
    "AdoptionReportRitual",
    "CloseDatePastRule",
    "ConfigError",
    "ConfigProblem",
    "DealCommand",
    "DigestFilters",
    "HygieneRitual",
    "HygieneRule",
    "Invalid",
    "MissingFieldRule",
    "OneOnOnePrepRitual",
    "Person",
    "PipelineDigestRitual",
    "QuietHours",
    "Ritual",
    "RitualBase",
    "RitualsConfig",
    "StaleDealsRitual",
    "cron_for_apscheduler",
    "load_rituals_file",
    "next_firings",
    "parse_rituals_text",
    "read_rituals_text",
    "suggestion_hint",
]


# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the rituals file. ``line`` is 1-based."""

    file: str
    line: int
    key: str
    message: str
    """In English; ``said`` is the same message for any reader (None: English only)."""
    said: Message | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, file: str, line: int, key: str, said: Message | str) -> ConfigProblem:
        return cls(file, line, key, str(said), said if isinstance(said, Message) else None)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}: {self.message}"

    def text(self, t: Translator) -> str:
        """As ``str()``, with the message in ``t``'s language: file, line and key stay as written."""
        message = self.said.text(t) if self.said is not None else self.message
        return f"{self.file}:{self.line}: {self.key}: {message}"


class ConfigError(Exception):
    """The rituals file is unusable; ``problems`` lists everything wrong with it, in file order."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        super().__init__(list(problems))
        self.problems: list[ConfigProblem] = list(problems)

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


class Invalid(ValueError):
    """A value check's failure as the admin reads it, in their language (``str()``: the English)."""

    def __init__(self, said: Message) -> None:
        super().__init__(str(said))
        self.said = said


def _invalid(template: str, /, **params: object) -> Invalid:
    return Invalid(Message(template, **params))


# --------------------------------------------------------------------------------------------
# Small value checks, each raising ValueError with the message an admin reads


_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_SLACK_USER_RE = re.compile(r"[UW][A-Z0-9]{2,}")
_SLACK_CHANNEL_ID_RE = re.compile(r"[CG][A-Z0-9]{2,}")
_USERGROUP_ID_RE = re.compile(r"S[A-Z0-9]{2,}")
_HANDLE_RE = re.compile(r"@[a-z0-9][a-z0-9._-]*")
_OWNER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*")
_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_PROPERTY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ALIAS_RE = re.compile(r"[a-z][a-z0-9_]*")
_COMMAND_RE = re.compile(r"/[a-z0-9][a-z0-9_-]{0,30}")
_HHMM_RE = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")

# Limits that keep a hostile or generated file from costing minutes and gigabytes, and keep every
# value within the database column it ends up in (core/models.py).
MAX_FILE_BYTES = 1_000_000
"""A real rituals file is a few kilobytes; above this, check-config refuses before parsing."""
MAX_RITUALS = 500
MAX_PEOPLE = 5_000
MAX_VALUES = 200_000
"""Values after YAML aliases are expanded: `&a [*b, *b, …]` chains cannot blow up validation."""
MAX_RITUAL_ID = 100  # ritual_id columns
MAX_SLACK_ID = 32  # slack_user, channel columns
MAX_OWNER_ID = 64  # owner_id columns
MAX_EMAIL = 320  # email columns
MAX_PROPERTY = 64  # audit field column
MAX_TEXT = 200  # stage and pipeline labels

CANONICAL_DEAL_KEYS: tuple[str, ...] = KEYS
"""The ``key=value`` keys ``/deal`` understands without configuration."""
# The French keys (as typed without accents: `etape`, `cloture`) and `aide` are `/deal` words too.
_RESERVED_DEAL_WORDS = frozenset({*TYPED_KEYS, "note", "help", "aide"})


def _did_you_mean(word: str, candidates: Iterable[str]) -> Message | str:
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return suggestion_hint(matches[0]) if matches else ""


def suggestion_hint(suggestion: str) -> Message:
    """A question appended to a problem, as its `{hint}`: ` (did you mean X?)`."""
    return Message(N_(" (did you mean {suggestion}?)"), suggestion=suggestion)


def _is_email(value: str) -> bool:
    return _EMAIL_RE.fullmatch(value) is not None


def _too_long(value: str, limit: int, what: str) -> None:
    if len(value) > limit:
        raise _invalid(
            N_("is {length} characters; {what} may be at most {limit}"),
            length=len(value),
            what=Message(what),
            limit=limit,
        )


def _check_slack_user(value: str) -> str:
    value = value.strip()
    _too_long(value, MAX_EMAIL if "@" in value else MAX_SLACK_ID, N_("a Slack user id or email"))
    if _SLACK_USER_RE.fullmatch(value):
        return value
    if _is_email(value):
        return value.lower()
    hint = suggestion_hint(value.upper()) if _SLACK_USER_RE.fullmatch(value.upper()) else ""
    raise _invalid(N_("must be a Slack user id (U… or W…) or an email address{hint}"), hint=hint)


def _owner_from_yaml(value: object) -> object:
    # `crm_owner: 101` is an owner id, not a number.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _check_crm_owner(value: str) -> str:
    value = value.strip()
    _too_long(value, MAX_EMAIL if "@" in value else MAX_OWNER_ID, N_("a CRM owner id or email"))
    if _is_email(value):
        return value.lower()
    if _OWNER_ID_RE.fullmatch(value):
        return value
    raise _invalid(N_("must be a CRM owner id or an email address"))


def _check_channel(value: str) -> str:
    value = value.strip()
    if _SLACK_CHANNEL_ID_RE.fullmatch(value):
        _too_long(value, MAX_SLACK_ID, N_("a channel id"))
        return value
    if value.startswith("#"):
        name = value[1:]
        if not name or len(name) > 80 or re.search(r"[\s#@,]", name):
            raise _invalid(N_("must be a channel name (#sales-weekly: no spaces, at most 80 characters)"))
        if name != name.lower():
            raise _invalid(
                N_("Slack channel names are lower case{hint}"), hint=suggestion_hint(f"#{name.lower()}")
            )
        return value
    hint = suggestion_hint(f"#{value}") if value and not re.search(r"[\s#@,]", value) else ""
    raise _invalid(N_("must be a channel name starting with # or a channel id (C… or G…){hint}"), hint=hint)


def _check_post_to(value: str) -> str:
    value = value.strip()
    if value in ("owner", "manager"):
        return value
    try:
        return _check_channel(value)
    except ValueError:
        raise _invalid(N_("must be a channel (#wins or a channel id), owner or manager")) from None


def _check_mention(value: str) -> str:
    value = value.strip()
    _too_long(value, MAX_TEXT, N_("a user group"))
    if _USERGROUP_ID_RE.fullmatch(value):
        return value
    if value.lower() in {"@here", "@channel", "@everyone"}:
        raise _invalid(N_("{value} is not a user group; mention a group such as @sales-team"), value=value)
    if _HANDLE_RE.fullmatch(value):
        return value
    hint = suggestion_hint(f"@{value.lower()}") if _HANDLE_RE.fullmatch(f"@{value.lower()}") else ""
    raise _invalid(N_("must be a user group handle starting with @ or a user group id (S…){hint}"), hint=hint)


def _check_slug(value: str) -> str:
    _too_long(value, MAX_RITUAL_ID, N_("an id"))
    if _SLUG_RE.fullmatch(value):
        return value
    suggestion = re.sub(r"[^a-z0-9_-]+", "-", value.strip().lower()).strip("-_")
    hint = suggestion_hint(suggestion) if suggestion and _SLUG_RE.fullmatch(suggestion) else ""
    raise _invalid(
        N_("must be lower-case letters, digits, '-' and '_', starting with a letter or digit{hint}"),
        hint=hint,
    )


def _check_property(value: str) -> str:
    _too_long(value, MAX_PROPERTY, N_("a property name"))
    if _PROPERTY_RE.fullmatch(value):
        return value
    raise _invalid(N_("must be a CRM property name (letters, digits and _, e.g. hs_next_step)"))


def _check_alias_name(value: str) -> str:
    if value in _RESERVED_DEAL_WORDS:
        raise _invalid(
            N_("{value} is already a /deal keyword; an alias needs a name of its own"), value=value
        )
    if not _ALIAS_RE.fullmatch(value):
        raise _invalid(N_("an alias must be lower-case letters, digits and _, starting with a letter"))
    _too_long(value, MAX_PROPERTY, N_("an alias"))
    return value


def _check_alias_target(value: str) -> str:
    _too_long(value, MAX_PROPERTY, N_("a property name"))
    if value in CANONICAL_DEAL_KEYS or _PROPERTY_RE.fullmatch(value):
        return value
    keys = ", ".join(CANONICAL_DEAL_KEYS)
    raise _invalid(N_("must be one of {keys} or a CRM property name (letters, digits and _)"), keys=keys)


def _check_command(value: str) -> str:
    value = value.strip()
    if _COMMAND_RE.fullmatch(value):
        return value
    hint = suggestion_hint(f"/{value.lower()}") if _COMMAND_RE.fullmatch(f"/{value.lower()}") else ""
    raise _invalid(
        N_("must be a slash command: / then up to 31 lower-case letters, digits, '-' or '_'{hint}"), hint=hint
    )


def _parse_clock(value: object) -> object:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        match = _HHMM_RE.fullmatch(value.strip())
        if match:
            return time(int(match.group(1)), int(match.group(2)))
    raise _invalid(N_('must be a time of day as "HH:MM" (24-hour clock), e.g. "19:00"'))


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def _zone_lookup() -> tuple[dict[str, str], dict[str, str]]:
    """(lower-cased name -> name, lower-cased city -> best zone for that city)."""
    by_lower = {name.lower(): name for name in _zone_names()}
    regions = ("Europe", "America", "Asia", "Africa", "Australia", "Pacific", "Atlantic", "Indian")
    by_city: dict[str, str] = {}
    for name in sorted(_zone_names(), key=lambda n: (n.split("/")[0] not in regions, n)):
        if "/" in name:
            by_city.setdefault(name.rsplit("/", 1)[1].lower(), name)
    return by_lower, by_city


def _suggest_zone(value: str) -> str | None:
    by_lower, by_city = _zone_lookup()
    cleaned = re.sub(r"\s+", "_", value.strip())
    if cleaned.lower() in by_lower:
        return by_lower[cleaned.lower()]
    parts = [part for part in re.split(r"[/\\,\s]+", value.strip()) if part]
    if len(parts) >= 2:
        swapped = "/".join(reversed(parts)).lower()
        if swapped in by_lower:
            return by_lower[swapped]
    for part in reversed(parts):
        if part.lower() in by_city:
            return by_city[part.lower()]
    close = difflib.get_close_matches(cleaned.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[close[0]] if close else None


def _check_timezone(value: str) -> str:
    value = value.strip()
    if value in _zone_names():
        return value
    suggestion = _suggest_zone(value)
    raise _invalid(N_("unknown time zone{hint}"), hint=suggestion_hint(suggestion) if suggestion else "")


def _zone(name: str) -> tzinfo:
    return zoneinfo.ZoneInfo(name)


# --------------------------------------------------------------------------------------------
# Cron

_CRON_SHAPE = N_("minute hour day month weekday")


def _shape() -> Message:
    return Message(_CRON_SHAPE)


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # classic cron: 0 = Sunday
_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * sun",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_CRON_ITEM_RE = re.compile(r"(?P<start>\*|[a-z0-9]+)(?:-(?P<end>[a-z0-9]+))?(?:/(?P<step>[0-9]+))?")


@dataclass(frozen=True)
class _CronField:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    names_start: int = 0


_MINUTE = _CronField(N_("minute"), 0, 59)
_HOUR = _CronField(N_("hour"), 0, 23)
_DAY = _CronField(N_("day"), 1, 31)
_MONTH = _CronField(N_("month"), 1, 12, _MONTHS, 1)
_WEEKDAY = _CronField(N_("weekday"), 0, 7, _CRON_WEEKDAYS, 0)


def _cron_value(field: _CronField, token: str) -> int:
    if token.isdigit():
        value = int(token)
        if not field.low <= value <= field.high:
            raise _invalid(
                N_("{field} {value} is out of range ({low}-{high})"),
                field=Message(field.name),
                value=value,
                low=field.low,
                high=field.high,
            )
        return value
    if token in field.names:
        return field.names.index(token) + field.names_start
    if field.names:
        hint = _did_you_mean(token, field.names)
        if field is _MONTH:
            raise _invalid(N_("{token} is not a month name{hint}"), token=repr(token), hint=hint)
        raise _invalid(N_("{token} is not a weekday name{hint}"), token=repr(token), hint=hint)
    raise _invalid(N_("{field} {token} is not a number"), field=Message(field.name), token=repr(token))


def _cron_field(field: _CronField, text: str) -> tuple[set[int], list[str]]:
    """The values a field selects (``-1`` stands for the last day of the month) and its items."""
    values: set[int] = set()
    items: list[str] = []
    for item in text.lower().split(","):
        if field is _DAY and item == "last":
            values.add(-1)
            items.append("last")
            continue
        match = _CRON_ITEM_RE.fullmatch(item)
        if match is None:
            raise _invalid(
                N_(
                    "{field} {item} is not valid cron; use a value (5), a range (1-5), "
                    "a list (1,15) or a step (*/15)"
                ),
                field=Message(field.name),
                item=repr(item),
            )
        start, end, step_text = match.group("start"), match.group("end"), match.group("step")
        if start == "*":
            if end is not None:
                raise _invalid(
                    N_("{field} {item} is not valid cron; '*' cannot start a range"),
                    field=Message(field.name),
                    item=repr(item),
                )
            first, last = field.low, field.high
        else:
            first = _cron_value(field, start)
            last = _cron_value(field, end) if end is not None else (field.high if step_text else first)
        if first > last:
            if field is _WEEKDAY:
                raise _invalid(
                    N_(
                        "weekday range {item} goes backwards "
                        "(weeks start on Sunday = 0; write it as two parts, e.g. sat,sun)"
                    ),
                    item=repr(item),
                )
            raise _invalid(
                N_("{field} range {item} goes backwards"), field=Message(field.name), item=repr(item)
            )
        step = int(step_text) if step_text else 1
        if step < 1:
            raise _invalid(
                N_("{field} step in {item} must be at least 1"), field=Message(field.name), item=repr(item)
            )
        if step_text and step > last - first:
            raise _invalid(
                N_("{field} step {step} in {item} is larger than the range it steps over ({first}-{last})"),
                field=Message(field.name),
                step=step,
                item=repr(item),
                first=first,
                last=last,
            )
        values.update(range(first, last + 1, step))
        if start == "*":
            items.append(f"*/{step}" if step_text else "*")
        elif end is not None or step_text:
            items.append(f"{first}-{last}" + (f"/{step}" if step_text else ""))
        else:
            items.append(str(first))
    return values, items


def cron_for_apscheduler(expr: str) -> str:
    """Check a five-field cron string and return it as APScheduler 3's ``from_crontab`` reads it.

    Raises ValueError with a message for the admin. Weekdays come out as names, so classic cron's
    numbering (0 or 7 = Sunday) survives APScheduler's (0 = Monday).
    """
    text = " ".join(expr.split())
    if not text:
        raise _invalid(
            N_('must not be empty; write five fields ({shape}), e.g. "0 9 * * mon-fri"'), shape=_shape()
        )
    if text.startswith("@"):
        equivalent = _NICKNAMES.get(text.lower())
        if equivalent:
            raise _invalid(
                N_('cron nicknames such as {text} are not supported, use five fields; write "{equivalent}"'),
                text=text,
                equivalent=equivalent,
            )
        raise _invalid(N_("cron nicknames such as {text} are not supported, use five fields"), text=text)
    parts = text.split(" ")
    if len(parts) != 5:
        raise _invalid(
            N_("cron has {count} fields; Drumbeat schedules use five: {shape}"),
            count=len(parts),
            shape=_shape(),
        )
    minute, hour, day, month, weekday = parts
    _, minute_items = _cron_field(_MINUTE, minute)
    _, hour_items = _cron_field(_HOUR, hour)
    days, day_items = _cron_field(_DAY, day)
    months, month_items = _cron_field(_MONTH, month)
    weekdays, _ = _cron_field(_WEEKDAY, weekday)
    if not day.startswith("*") and not weekday.startswith("*"):
        raise _invalid(
            N_(
                "restricts both the day of the month ({day}) and the weekday ({weekday}): classic cron "
                "would fire when either matches, Drumbeat's scheduler only when both do; keep one of them"
            ),
            day=day,
            weekday=weekday,
        )
    if -1 not in days and not any(d <= calendar.monthrange(2024, m)[1] for d in days for m in months):
        raise _invalid(N_("never fires: no month in the schedule has day {day}"), day=min(days))
    cron_days = sorted({value % 7 for value in weekdays}, key=lambda value: (value + 6) % 7)
    weekday_text = "*" if len(cron_days) == 7 else ",".join(_CRON_WEEKDAYS[d] for d in cron_days)
    normalised = " ".join(
        [
            ",".join(minute_items),
            ",".join(hour_items),
            ",".join(day_items),
            ",".join(month_items),
            weekday_text,
        ]
    )
    try:
        CronTrigger.from_crontab(normalised, timezone=UTC)
    except ValueError as exc:
        raise _invalid(N_("invalid cron: {problem}"), problem=str(exc)) from None
    return normalised


def _check_schedule(value: str) -> str:
    cron_for_apscheduler(value)
    return " ".join(value.split())


# --------------------------------------------------------------------------------------------
# Schema

SlackUser = Annotated[str, AfterValidator(_check_slack_user)]
CrmOwner = Annotated[str, BeforeValidator(_owner_from_yaml), AfterValidator(_check_crm_owner)]
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
ChannelRef = Annotated[str, AfterValidator(_check_channel)]
MentionRef = Annotated[str, AfterValidator(_check_mention)]
Slug = Annotated[str, AfterValidator(_check_slug)]
CronSchedule = Annotated[str, AfterValidator(_check_schedule)]
PropertyName = Annotated[str, AfterValidator(_check_property)]
ClockTime = Annotated[time, BeforeValidator(_parse_clock)]
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]
NonEmptyList = Annotated[list[NonEmptyText], Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Language = Literal["en", "fr"]


class Person(_Model):
    """An override of the automatic owner <-> Slack match by email."""

    crm_owner: CrmOwner
    slack: SlackUser
    manager: SlackUser | None = None
    language: Language | None = None
    """Overrides the person's Slack locale."""


class QuietHours(_Model):
    """No DMs in this window of a person's own day; ``end`` before ``start`` crosses midnight."""

    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise _invalid(N_("start and end are the same time; remove quiet_hours to have none"))
        return self

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def contains(self, moment: time) -> bool:
        """Whether a local time of day is quiet (``start`` included, ``end`` excluded)."""
        moment = moment.replace(tzinfo=None)
        if self.crosses_midnight:
            return moment >= self.start or moment < self.end
        return self.start <= moment < self.end


class DealCommand(_Model):
    """The ``/deal`` slash command: its name and extra ``key=value`` keys."""

    name: Annotated[str, AfterValidator(_check_command)] = "/deal"
    aliases: dict[
        Annotated[str, AfterValidator(_check_alias_name)],
        Annotated[str, AfterValidator(_check_alias_target)],
    ] = Field(default_factory=dict)
    """alias -> a canonical key (stage, amount, close, next) or a CRM property name."""


class RitualBase(_Model):
    """What every ritual kind has. ``timezone`` None means the file's ``timezone``."""

    id: Slug
    kind: str
    schedule: CronSchedule
    timezone: TimeZoneName | None = None
    grace_minutes: int = Field(default=60, ge=0, le=1440)
    """How late a missed firing (downtime, restart) may still run."""
    enabled: bool = True

    _default_timezone: str = PrivateAttr(default="UTC")

    @property
    def timezone_name(self) -> str:
        """The zone the schedule is in: the ritual's own, else the file's."""
        return self.timezone or self._default_timezone

    def zone(self, default_tz: str | tzinfo | None = None) -> tzinfo:
        if self.timezone:
            return _zone(self.timezone)
        if default_tz is None:
            return _zone(self._default_timezone)
        return _zone(default_tz) if isinstance(default_tz, str) else default_tz

    def trigger(self, default_tz: str | tzinfo | None = None) -> CronTrigger:
        """The APScheduler 3 trigger. ``default_tz`` overrides the file's zone when given."""
        return CronTrigger.from_crontab(cron_for_apscheduler(self.schedule), timezone=self.zone(default_tz))


class StaleDealsRitual(RitualBase):
    kind: Literal["stale_deals"]
    stale_after_days: int = Field(default=14, ge=1)
    pipelines: NonEmptyList | None = None
    """Pipeline ids or labels; None means all pipelines."""
    max_per_message: int = Field(default=10, ge=1, le=20)
    snooze_days: Annotated[list[Annotated[int, Field(ge=1, le=365)]], Field(min_length=1, max_length=10)] = (
        Field(default_factory=lambda: [3, 7, 14])
    )


class DigestFilters(_Model):
    pipelines: NonEmptyList | None = None
    owners: Annotated[list[CrmOwner], Field(min_length=1)] | None = None
    teams: NonEmptyList | None = None


class PipelineDigestRitual(RitualBase):
    kind: Literal["pipeline_digest"]
    channel: ChannelRef
    compare_days: int = Field(default=7, ge=1, le=366)
    filters: DigestFilters | None = None
    mention: MentionRef | None = None
    language: Language | None = None


class CloseDatePastRule(_Model):
    check: Literal["close_date_past"]


# The deal properties Drumbeat mirrors, so a `missing` rule can check them.
MISSING_FIELDS = tuple(MISSING_CHECKS)


class MissingFieldRule(_Model):
    check: Literal["missing"]
    field: PropertyName
    stages: NonEmptyList | None = None
    """Only deals in these stages (ids or labels); None means every open stage."""

    @field_validator("field")
    @classmethod
    def _checkable(cls, value: str) -> str:
        if value not in MISSING_FIELDS:
            suggestion = _did_you_mean(value, MISSING_FIELDS)
            raise _invalid(
                N_("{value} is not a field Drumbeat can check{hint}; it checks a missing {fields}"),
                value=repr(value),
                hint=suggestion,
                fields=", ".join(MISSING_FIELDS),
            )
        return value


HygieneRule = Annotated[CloseDatePastRule | MissingFieldRule, Field(discriminator="check")]


class HygieneRitual(RitualBase):
    kind: Literal["hygiene"]
    rules: Annotated[list[HygieneRule], Field(min_length=1)]


class AlertConditions(_Model):
    """What a change must be for a deal alert; every condition given must hold."""

    stage_becomes: NonEmptyText | NonEmptyList | None = None
    """Stage ids or labels the deal moved into."""
    pipeline: NonEmptyText | NonEmptyList | None = None
    amount_at_least: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    amount_changed_by_percent: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    close_date_pushed_by_days: int | None = Field(default=None, ge=1, le=3660)
    owner_changed: Literal[True] | None = None
    created: Literal[True] | None = None

    @model_validator(mode="after")
    def _watches_a_change(self) -> AlertConditions:
        events = (
            self.stage_becomes,
            self.amount_changed_by_percent,
            self.close_date_pushed_by_days,
            self.owner_changed,
            self.created,
        )
        if all(event is None for event in events):
            raise _invalid(
                N_(
                    "needs a change to watch for: stage_becomes, amount_changed_by_percent, "
                    "close_date_pushed_by_days, owner_changed or created (pipeline and amount_at_least "
                    "only narrow one down)"
                )
            )
        return self

    @staticmethod
    def _listed(value: str | list[str] | None) -> list[str] | None:
        return None if value is None else [value] if isinstance(value, str) else list(value)

    @property
    def stages(self) -> list[str] | None:
        return self._listed(self.stage_becomes)

    @property
    def pipelines(self) -> list[str] | None:
        return self._listed(self.pipeline)


class DealAlertRitual(_Model):
    """No schedule: evaluated on the changes each sync finds."""

    id: Slug
    kind: Literal["deal_alert"]
    when: AlertConditions
    post_to: Annotated[str, AfterValidator(_check_post_to)]
    """A channel, or ``owner`` / ``manager`` for a DM."""
    mention_owner: bool = False
    filters: DigestFilters | None = None
    max_posts_per_sync: int = Field(default=5, ge=1, le=50)
    language: Language | None = None
    enabled: bool = True


class OneOnOnePrepRitual(RitualBase):
    kind: Literal["one_on_one_prep"]


class AdoptionReportRitual(RitualBase):
    kind: Literal["adoption_report"]
    channel: ChannelRef
    language: Language | None = None
    ranking: bool = False
    threshold: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None


ScheduledRitual = (
    StaleDealsRitual | PipelineDigestRitual | HygieneRitual | OneOnOnePrepRitual | AdoptionReportRitual
)
Ritual = Annotated[ScheduledRitual | DealAlertRitual, Field(discriminator="kind")]

RITUAL_KINDS: dict[str, type[RitualBase] | type[DealAlertRitual]] = {
    "stale_deals": StaleDealsRitual,
    "pipeline_digest": PipelineDigestRitual,
    "hygiene": HygieneRitual,
    "one_on_one_prep": OneOnOnePrepRitual,
    "adoption_report": AdoptionReportRitual,
    "deal_alert": DealAlertRitual,
}
HYGIENE_CHECKS: dict[str, type[BaseModel]] = {
    "close_date_past": CloseDatePastRule,
    "missing": MissingFieldRule,
}
_DISCRIMINATORS: dict[str, Mapping[str, type[BaseModel]]] = {"kind": RITUAL_KINDS, "check": HYGIENE_CHECKS}


class RitualsConfig(_Model):
    """The whole rituals file."""

    timezone: TimeZoneName = "UTC"
    language: Language = "en"
    """Messages and channel posts; a person's Slack locale (or `people:` language) wins for their own."""
    admins: list[SlackUser] = Field(default_factory=list)
    people: list[Person] = Field(default_factory=list)
    quiet_hours: QuietHours | None = None
    deal_command: DealCommand = Field(default_factory=DealCommand)
    rituals: list[Ritual]

    @model_validator(mode="after")
    def _give_rituals_the_file_zone(self) -> RitualsConfig:
        for ritual in self.scheduled:
            ritual._default_timezone = self.timezone
        return self

    @property
    def scheduled(self) -> list[ScheduledRitual]:
        """The rituals that fire on a schedule (every kind but deal alerts)."""
        return [r for r in self.rituals if not isinstance(r, DealAlertRitual)]

    @property
    def alerts(self) -> list[DealAlertRitual]:
        return [r for r in self.rituals if isinstance(r, DealAlertRitual)]

    @property
    def zone(self) -> tzinfo:
        return _zone(self.timezone)

    @property
    def stale_after_days(self) -> int:
        """What "stale" means everywhere (cards, App Home, reports): the first stale_deals ritual's
        setting, 14 days without one."""
        return next((r.stale_after_days for r in self.rituals if isinstance(r, StaleDealsRitual)), 14)

    def ritual(self, ritual_id: str) -> Ritual:
        """The ritual with this id; KeyError naming the known ids otherwise (its argument: a `Message`)."""
        for ritual in self.rituals:
            if ritual.id == ritual_id:
                return ritual
        hint = _did_you_mean(ritual_id, (r.id for r in self.rituals))
        if not self.rituals:
            raise KeyError(
                Message(N_("no ritual {ritual}{hint}; known: none"), ritual=repr(ritual_id), hint=hint)
            )
        known = ", ".join(r.id for r in self.rituals)
        raise KeyError(
            Message(
                N_("no ritual {ritual}{hint}; known: {known}"), ritual=repr(ritual_id), hint=hint, known=known
            )
        )

    def scheduled_ritual(self, ritual_id: str) -> ScheduledRitual:
        """The ritual with this id, if it runs on a schedule; KeyError saying why not otherwise."""
        ritual = self.ritual(ritual_id)
        if isinstance(ritual, DealAlertRitual):
            raise KeyError(
                Message(
                    N_(
                        "{ritual} is a deal alert: it has no schedule and is checked on every sync's "
                        "changes (`drumbeat sync`, or `serve` as it keeps the mirror fresh)"
                    ),
                    ritual=repr(ritual_id),
                )
            )
        return ritual


def next_firings(
    ritual: RitualBase, after: datetime, count: int = 3, *, default_tz: str | tzinfo | None = None
) -> list[datetime]:
    """The next ``count`` firings strictly after ``after``, as aware datetimes in the ritual's zone.

    Exactly APScheduler 3's arithmetic (see the module docstring for daylight saving time), with
    each time normalised to a real wall-clock time: the spring-forward firing of "30 2 * * *" in
    Europe/Paris is returned as 03:30+02:00. Fewer than ``count`` when the schedule ends.
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be a timezone-aware datetime")
    zone = ritual.zone(default_tz)
    trigger = ritual.trigger(default_tz)
    now = after.astimezone(UTC) + timedelta(microseconds=1)
    previous: datetime | None = None
    firings: list[datetime] = []
    while len(firings) < count:
        fire_time: datetime | None = trigger.get_next_fire_time(previous, now)
        if fire_time is None:
            break
        firings.append(fire_time.astimezone(UTC).astimezone(zone))
        previous = now = fire_time
    return firings


# --------------------------------------------------------------------------------------------
# Loading


def load_rituals_file(path: Path) -> RitualsConfig:
    """Read and validate the rituals file; ConfigError (never OSError) when it cannot be used."""
    return parse_rituals_text(read_rituals_text(path), filename=str(path))


def read_rituals_text(path: Path) -> str:
    """The file's text; ConfigError when it cannot be read, is too big, or is not UTF-8."""
    filename = str(path)
    try:
        with Path(path).open("rb") as file:
            # Read one byte past the limit, never the whole of a huge file.
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        said = Message(N_("cannot read the file: {reason}"), reason=reason)
        raise ConfigError([ConfigProblem.of(filename, 1, "(file)", said)]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError([_too_big(filename, Path(path).stat().st_size)])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        said = Message(N_("is not UTF-8 text; save the file as UTF-8"))
        problem = ConfigProblem.of(filename, line, "(file)", said)
        raise ConfigError([problem]) from None


def _too_big(filename: str, size: int) -> ConfigProblem:
    shown = f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size:,} bytes"
    said = Message(
        N_(
            "the file is {size}; a rituals file may be at most {limit} MB "
            "(split it, or remove generated rituals)"
        ),
        size=shown,
        limit=MAX_FILE_BYTES // 1_000_000,
    )
    return ConfigProblem.of(filename, 1, "(file)", said)


def parse_rituals_text(text: str, *, filename: str = "rituals.yaml") -> RitualsConfig:
    """Validate the rituals file's text; ConfigError with every problem when anything is wrong."""
    if len(text) > MAX_FILE_BYTES:  # characters: a cheap lower bound of the bytes
        raise ConfigError([_too_big(filename, len(text.encode("utf-8", "replace")))])
    try:
        loaded = load_yaml_with_lines(text)
    except YamlSyntaxError as exc:
        raise ConfigError([ConfigProblem.of(filename, exc.line, "(yaml)", exc.said)]) from None
    data = loaded.data
    if data is None:
        said = Message(
            N_("the file is empty; it needs at least a rituals list (keys: {keys})"),
            keys=", ".join(_TOP_KEYS),
        )
        raise ConfigError([ConfigProblem.of(filename, 1, "(file)", said)])
    if not isinstance(data, dict):
        said = Message(
            N_("the file must be a mapping of settings ({keys}), not {what}"),
            keys=", ".join(_TOP_KEYS),
            what=_describe(data),
        )
        raise ConfigError([ConfigProblem.of(filename, loaded.root_line, "(file)", said)])

    limits = _beyond_limits(filename, data, loaded.lines)
    if limits:  # before validation, which is what would take minutes
        raise ConfigError(limits)
    locator = _Locator(filename, data, loaded.lines, loaded.root_line)
    problems: list[ConfigProblem] = []
    for duplicate in loaded.duplicates:
        said = Message(
            N_("duplicate key (already set at line {line}; YAML would keep only the last)"),
            line=duplicate.first_line,
        )
        problems.append(ConfigProblem.of(filename, duplicate.line, locator.key(duplicate.loc), said))
    problems.extend(_duplicate_ids(locator, data))
    try:
        config = RitualsConfig.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            problems.append(_problem(locator, dict(error)))
    else:
        problems.extend(_manager_problems(locator, config.people))
        if not problems:
            return config
    raise ConfigError(_ordered(problems))


def _beyond_limits(filename: str, data: dict[Any, Any], lines: dict[Loc, int]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for section, limit in (("rituals", MAX_RITUALS), ("people", MAX_PEOPLE)):
        items = data.get(section)
        if isinstance(items, list) and len(items) > limit:
            said = Message(
                N_("{count} entries; a rituals file may have at most {limit}"),
                count=f"{len(items):,}",
                limit=f"{limit:,}",
            )
            problems.append(ConfigProblem.of(filename, lines.get((section,), 1), section, said))
    if not problems and _expanded_size(data) > MAX_VALUES:
        said = Message(
            N_(
                "more than {limit} values once YAML aliases (*name) are expanded; "
                "write the values out instead"
            ),
            limit=f"{MAX_VALUES:,}",
        )
        problems.append(ConfigProblem.of(filename, 1, "(file)", said))
    return problems


def _expanded_size(data: object) -> int:
    """How many values validation would visit: an alias counts its target's size each time it is used."""
    sizes: dict[int, int] = {}
    stack: list[tuple[object, bool]] = [(data, False)]
    while stack:  # iterative post-order, each shared object sized once
        value, children_done = stack.pop()
        if not isinstance(value, dict | list) or id(value) in sizes:
            continue
        items = list(value.values()) if isinstance(value, dict) else value
        if children_done:
            total = 1 + sum(sizes.get(id(item), 1) for item in items)
            sizes[id(value)] = min(total, MAX_VALUES + 1)  # capped: the count stays a small int
        else:
            stack.append((value, True))
            stack.extend((item, False) for item in items if isinstance(item, dict | list))
    return sizes.get(id(data), 1)


def _manager_problems(locator: _Locator, people: Sequence[Person]) -> list[ConfigProblem]:
    """Nobody manages themselves, and following managers never leads back to where it started."""
    problems: list[ConfigProblem] = []
    who: dict[str, int] = {}  # every name a person is written by (Slack id, emails) -> their index
    for index, person in enumerate(people):
        for name in _names_of(person):
            who.setdefault(name, index)
    managed_by: dict[int, int] = {}
    for index, person in enumerate(people):
        if person.manager is None:
            continue
        path = ("people", index, "manager")
        if person.manager.lower() in _names_of(person):
            said = Message(
                N_("{manager} is this person's own manager; a person cannot manage themselves"),
                manager=person.manager,
            )
            problems.append(ConfigProblem.of(locator.filename, locator.line(path), locator.key(path), said))
        elif person.manager.lower() in who:
            managed_by[index] = who[person.manager.lower()]
    reported: set[int] = set()
    for start in managed_by:
        chain, on_chain = [start], {start}
        current = managed_by.get(start)
        while current is not None and current not in on_chain and current not in reported:
            chain.append(current)
            on_chain.add(current)
            current = managed_by.get(current)
        if current is None or current in reported or current != start:
            continue  # no cycle through `start` (a cycle elsewhere is reported from its own start)
        reported.update(chain)
        names = " manages ".join(people[i].slack for i in [start, *reversed(chain)])
        path = ("people", start, "manager")
        said = Message(
            N_("manager cycle: {names}; someone in it must report to a person outside it"), names=names
        )
        problems.append(ConfigProblem.of(locator.filename, locator.line(path), locator.key(path), said))
    return problems


def _names_of(person: Person) -> set[str]:
    names = {person.slack.lower()}
    if "@" in person.crm_owner:
        names.add(person.crm_owner.lower())
    return names


_TOP_KEYS = tuple(RitualsConfig.model_fields)


def _ordered(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda problem: problem.line)


def _describe(value: object) -> Message:
    if value is None:
        return Message(N_("nothing"))
    if isinstance(value, bool):
        return Message(N_("true/false"))
    if isinstance(value, dict):
        return Message(N_("a mapping"))
    if isinstance(value, list):
        return Message(N_("a list"))
    if isinstance(value, int | float):
        return Message(N_("a number"))
    if isinstance(value, str):
        return Message(N_("text"))
    return Message(N_("a {type}"), type=type(value).__name__)


class _Locator:
    """Turns a path into the data into a line number and a readable dotted key."""

    def __init__(self, filename: str, data: dict[Any, Any], lines: dict[Loc, int], root_line: int) -> None:
        self.filename = filename
        self.data = data
        self.lines = lines
        self.root_line = root_line
        self.ritual_labels = _ritual_labels(data)

    def line(self, path: Sequence[object]) -> int:
        raw: list[str | int] = []
        best = self.root_line
        current: object = self.data
        for element in path:
            if isinstance(current, list) and isinstance(element, int):
                raw.append(element)
                current = current[element] if 0 <= element < len(current) else None
            elif isinstance(current, dict):
                raw.append(element if isinstance(element, str) else _yaml_text(element))
                current = current.get(element) if _hashable(element) else None
            else:
                break
            best = self.lines.get(tuple(raw), best)
        return best

    def key(self, path: Sequence[object]) -> str:
        text = ""
        current: object = self.data
        for index, element in enumerate(path):
            if isinstance(current, list) or (current is None and type(element) is int):
                label = str(element)
                if tuple(path[:index]) == ("rituals",) and isinstance(element, int):
                    label = self.ritual_labels.get(element, label)
                text += f"[{label}]"
            else:
                text += ("." if text else "") + _yaml_text(element)
            current = _raw_value(current, [element])
        return text or "(file)"


def _yaml_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _ritual_labels(data: Mapping[Any, Any]) -> dict[int, str]:
    """rituals[i] is named by its id when the id is a valid, unique slug."""
    rituals = data.get("rituals")
    if not isinstance(rituals, list):
        return {}
    ids = [item.get("id") if isinstance(item, dict) else None for item in rituals]
    counts = collections.Counter(i for i in ids if isinstance(i, str))  # not ids.count: quadratic
    labels: dict[int, str] = {}
    for index, ritual_id in enumerate(ids):
        if (
            isinstance(ritual_id, str)
            and len(ritual_id) <= MAX_RITUAL_ID
            and _SLUG_RE.fullmatch(ritual_id)
            and counts[ritual_id] == 1
        ):
            labels[index] = ritual_id
    return labels


def _duplicate_ids(locator: _Locator, data: Mapping[Any, Any]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    checks = (("rituals", "id", N_("ritual id")), ("people", "crm_owner", "crm_owner"))
    for section, field_name, label in checks:
        items = data.get(section)
        if not isinstance(items, list):
            continue
        first_lines: dict[str, int] = {}
        for index, item in enumerate(items):
            value = item.get(field_name) if isinstance(item, dict) else None
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str):
                continue
            path = (section, index, field_name)
            normalised = value.strip().lower() if section == "people" else value
            if normalised in first_lines:
                said = Message(
                    N_("duplicate {label} {value} (first used at line {line})"),
                    label=Message(label) if section == "rituals" else label,
                    value=repr(value),
                    line=first_lines[normalised],
                )
                key = f"{section}[{index}].{field_name}"
                problems.append(ConfigProblem.of(locator.filename, locator.line(path), key, said))
            else:
                first_lines[normalised] = locator.line(path)
    return problems


# --------------------------------------------------------------------------------------------
# Pydantic errors -> problems


def _problem(locator: _Locator, error: dict[str, Any]) -> ConfigProblem:
    path = _clean_path(error["loc"], locator.data)
    kind = error["type"]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        discriminator = str(error.get("ctx", {}).get("discriminator", "kind")).strip("'\"")
        path = [*path, discriminator]
    message = _message(kind, error, path, locator.data)
    return ConfigProblem.of(locator.filename, locator.line(path), locator.key(path), message)


def _clean_path(loc: Sequence[object], data: object) -> list[object]:
    """Drop pydantic's union tags and ``[key]`` markers from a loc."""
    path: list[object] = []
    current: object = data
    for element in loc:
        if element == "[key]":
            continue
        if isinstance(current, dict):
            if isinstance(element, str) and any(
                current.get(name) == element and element in tags for name, tags in _DISCRIMINATORS.items()
            ):
                continue
            path.append(element)
            current = current.get(element) if _hashable(element) else None
        elif isinstance(current, list) and isinstance(element, int) and 0 <= element < len(current):
            path.append(element)
            current = current[element]
        else:
            path.append(element)
            current = None
    return path


# Pydantic's error types an admin meets, in our words (and in their language); any other type keeps
# pydantic's own English message, "Input should be" made "must be".
_TYPE_MESSAGES = {
    "int_parsing": N_("must be a whole number"),
    "int_type": N_("must be a whole number"),
    "int_from_float": N_("must be a whole number"),
    "float_parsing": N_("must be a number"),
    "float_type": N_("must be a number"),
    "finite_number": N_("must be a finite number"),
    "bool_parsing": N_("must be true or false"),
    "bool_type": N_("must be true or false"),
    "string_type": N_("must be text"),
    "string_sub_type": N_("must be text"),
    "list_type": N_("must be a list"),
    "tuple_type": N_("must be a list"),
    "set_type": N_("must be a list"),
    "dict_type": N_("must be a mapping (key: value)"),
    "mapping_type": N_("must be a mapping (key: value)"),
    "model_type": N_("must be a mapping (key: value)"),
    "model_attributes_type": N_("must be a mapping (key: value)"),
    "time_type": N_('must be a time of day as "HH:MM"'),
    "time_parsing": N_('must be a time of day as "HH:MM"'),
}
_SCALAR_TYPES = (
    "int_parsing",
    "int_type",
    "int_from_float",
    "float_parsing",
    "float_type",
    "bool_parsing",
    "bool_type",
)


def _message(kind: str, error: Mapping[str, Any], path: Sequence[object], data: object) -> Message | str:
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    value = error.get("input")
    if kind in _TYPE_MESSAGES:
        expected = Message(_TYPE_MESSAGES[kind])
        if value is None:
            return Message(N_("{expected}, but it is empty"), expected=expected)
        if kind == "string_type" and not isinstance(value, dict | list):
            return Message(N_("{expected} (put it in quotes)"), expected=expected)
        if kind == "list_type" and isinstance(value, str) and len(value) <= 40 and _text_list_at(path, data):
            return Message(N_("{expected}, not text (write [{value}])"), expected=expected, value=value)
        if isinstance(value, dict | list) or kind not in _SCALAR_TYPES:
            return Message(N_("{expected}, not {what}"), expected=expected, what=_describe(value))
        return expected
    if kind == "missing":
        return Message(N_("is required"))
    if kind in ("extra_forbidden", "invalid_key"):
        return _unknown_key_message(path, data)
    if kind in ("value_error", "assertion_error"):
        cause = ctx.get("error")
        if isinstance(cause, Invalid):
            return cause.said
        return str(cause if cause is not None else error.get("msg", "is invalid"))
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        name = str(path[-1])
        tags = list(_DISCRIMINATORS.get(name, {}))
        expected_tags = ", ".join(tags)
        if kind == "union_tag_not_found":
            return Message(N_("is required: one of {expected}"), expected=expected_tags)
        tag = _raw_value(data, path)
        shown = repr(tag) if isinstance(tag, str) else _describe(tag)
        hint = _did_you_mean(tag, tags) if isinstance(tag, str) else ""
        return Message(
            N_("unknown {name} {value}; expected one of {expected}{hint}"),
            name=name,
            value=shown,
            expected=expected_tags,
            hint=hint,
        )
    if kind == "greater_than_equal":
        return Message(N_("must be at least {limit}"), limit=_number(ctx.get("ge")))
    if kind == "greater_than":
        return Message(N_("must be more than {limit}"), limit=_number(ctx.get("gt")))
    if kind == "less_than_equal":
        return Message(N_("must be at most {limit}"), limit=_number(ctx.get("le")))
    if kind == "less_than":
        return Message(N_("must be less than {limit}"), limit=_number(ctx.get("lt")))
    if kind in ("string_too_short", "too_short"):
        minimum = ctx.get("min_length", 1)
        if kind == "string_too_short" or minimum == 1:
            field_info = _field_info_at(path, data)
            if kind == "too_short" and field_info is not None and not field_info.is_required():
                return Message(N_("must not be empty (leave it out instead)"))
            return Message(N_("must not be empty"))
        return Message(N_("must have at least {count} items"), count=minimum)
    if kind == "too_long":
        return Message(N_("must have at most {count} items"), count=ctx.get("max_length"))
    if kind == "string_too_long":
        return Message(N_("must be at most {count} characters"), count=ctx.get("max_length"))
    if kind == "literal_error":  # echo what was written, so a typo is easy to spot
        plain = isinstance(value, str | int | float) and not isinstance(value, bool)
        if plain and len(str(value)) <= 40:
            return Message(
                N_("must be {expected}, not {value}"), expected=ctx.get("expected"), value=repr(value)
            )
        return Message(N_("must be {expected}"), expected=ctx.get("expected"))
    message = str(error.get("msg", "is invalid"))
    message = re.sub(r"^Input should be", "must be", message)
    return message[:1].lower() + message[1:]


def _field_info_at(path: Sequence[object], data: object) -> FieldInfo | None:
    """The schema field the value at ``path`` is validated by, when ``path`` ends at a model field."""
    if not path or not isinstance(path[-1], str):
        return None
    model = _model_at(path[:-1], data)
    return model.model_fields.get(path[-1]) if model is not None else None


def _text_list_at(path: Sequence[object], data: object) -> bool:
    """Whether the value at ``path`` is a list of text (so ``[value]`` is a sensible fix)."""
    field_info = _field_info_at(path, data)
    if field_info is None:
        return False
    annotation = _unwrap(field_info.annotation, None)
    if typing.get_origin(annotation) is not list:
        return False
    return _unwrap(typing.get_args(annotation)[0], None) is str


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _raw_value(data: object, path: Sequence[object]) -> object:
    current = data
    for element in path:
        if isinstance(current, dict) and _hashable(element):
            current = current.get(element)
        elif isinstance(current, list) and isinstance(element, int) and 0 <= element < len(current):
            current = current[element]
        else:
            return None
    return current


def _unknown_key_message(path: Sequence[object], data: object) -> Message:
    key = path[-1] if path else None
    parent = list(path[:-1])
    model = _model_at(parent, data)
    if model is None:
        return Message(N_("unknown key"))
    fields = list(model.model_fields)
    hint = _did_you_mean(_yaml_text(key), fields)
    if hint:
        return Message(N_("unknown key{hint}"), hint=hint)
    if model is DealAlertRitual and key in ("schedule", "timezone", "grace_minutes"):
        return Message(N_("a deal alert has no schedule: it is checked on the changes every sync finds"))
    if issubclass(model, RitualBase):
        owners = [kind for kind, cls in RITUAL_KINDS.items() if key in cls.model_fields]
        kind = next((k for k, cls in RITUAL_KINDS.items() if cls is model), "this")
        if owners:
            return Message(
                N_("unknown key for a {kind} ritual (it belongs to {owners})"),
                kind=kind,
                owners=owners,
            )
    return Message(N_("unknown key; expected {keys}"), keys=", ".join(fields))


def _model_at(path: Sequence[object], data: object) -> type[BaseModel] | None:
    """The model that validates the value at ``path`` (unions resolved by their tag), if any."""
    annotation: Any = RitualsConfig
    current: object = data
    for element in path:
        annotation = _unwrap(annotation, current)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field_info = annotation.model_fields.get(element) if isinstance(element, str) else None
            if field_info is None:
                return None
            annotation = field_info.annotation
        elif typing.get_origin(annotation) in (list, tuple):
            annotation = typing.get_args(annotation)[0]
        elif typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
        else:
            return None
        current = _raw_value(current, [element])
    annotation = _unwrap(annotation, current)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _unwrap(annotation: Any, value: object) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union or origin is types.UnionType:
            members = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
            if len(members) == 1:
                annotation = members[0]
                continue
            chosen = None
            if isinstance(value, dict):
                for name, tags in _DISCRIMINATORS.items():
                    tag = value.get(name)
                    if isinstance(tag, str) and tag in tags and tags[tag] in members:
                        chosen = tags[tag]
            return chosen
        else:
            return annotation
