"""The starter rituals file `drumbeat init` writes: the contract's example rituals (every kind), made
real with what the CRM and Slack hold. Pure text composition: the caller reads Slack and the CRM
and hands in plain data, so this knows no Slack and no network.

Decisions the product contract leaves open, made here:

* the file's time zone is the one most matched reps have in Slack (schedules land in their morning);
  with nobody matched, the `--admin`'s; else UTC, with a comment to change it;
* channels are picked by name: the first existing channel whose name holds a word that fits the
  ritual (`sales`, `pipeline`… for the digest; `managers`, `leads`… for the adoption report; `wins`
  for deal alerts), channels Drumbeat is already in first; with none, the example's name, to create;
* the hygiene rule on next steps covers the open stages with a win probability of 50% or more, and
  the big-wins alert the pipelines' won stages.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from integrations.base import Owner, Pipeline, Stage

__all__ = [
    "CHANNEL_WORDS",
    "AdminMatch",
    "ChannelChoice",
    "OwnerMatch",
    "SlackChannel",
    "Starter",
    "choose_timezone",
    "fitting_channels",
    "starter_yaml",
]

ChannelPurpose = Literal["digest", "adoption", "wins"]

# Words that make a channel fit a ritual, best first.
CHANNEL_WORDS: dict[ChannelPurpose, tuple[str, ...]] = {
    "digest": ("sales", "pipeline", "deals", "revenue"),
    "adoption": ("managers", "leads", "sales-ops", "revops", "sales"),
    "wins": ("wins", "win", "celebrat", "sales"),
}
EXAMPLE_CHANNELS: dict[ChannelPurpose, str] = {
    "digest": "sales-weekly",
    "adoption": "sales-managers",
    "wins": "wins",
}
COMMENT_COLUMN = 34  # where comments start, as in rituals.example.yaml
LATE_STAGE_PROBABILITY = 0.5


@dataclass(frozen=True, slots=True)
class SlackChannel:
    id: str
    name: str
    is_member: bool
    is_private: bool = False


@dataclass(frozen=True, slots=True)
class ChannelChoice:
    """A channel for a ritual; `channel` is None when no channel exists yet (the example's name is used)."""

    purpose: ChannelPurpose
    channel: SlackChannel | None

    @property
    def name(self) -> str:
        return self.channel.name if self.channel else EXAMPLE_CHANNELS[self.purpose]

    @property
    def note(self) -> str:
        if self.channel is None:
            return f"no fitting channel exists: create #{self.name}, then /invite @Drumbeat there"
        if not self.channel.is_member:
            return f"invite Drumbeat: /invite @Drumbeat in #{self.name}"
        return "Drumbeat is a member"


@dataclass(frozen=True, slots=True)
class OwnerMatch:
    """A CRM owner and the Slack person found by their email, or why nobody was."""

    owner: Owner
    slack_id: str | None = None
    slack_name: str | None = None
    tz: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class AdminMatch:
    email: str | None = None
    slack_id: str | None = None
    slack_name: str | None = None
    tz: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Starter:
    crm_label: str
    pipelines: Sequence[Pipeline]
    people: Sequence[OwnerMatch]
    digest: ChannelChoice
    adoption: ChannelChoice
    wins: ChannelChoice
    admin: AdminMatch
    timezone: str
    timezone_reason: str
    today: date


def fitting_channels(channels: Sequence[SlackChannel], purpose: ChannelPurpose) -> list[SlackChannel]:
    """Channels whose name fits the purpose: by the best word they hold, those Drumbeat is in first."""
    words = CHANNEL_WORDS[purpose]

    def rank(channel: SlackChannel) -> tuple[int, int, str]:
        word = next(i for i, w in enumerate(words) if w in channel.name)
        return word, 0 if channel.is_member else 1, channel.name

    fitting = [c for c in channels if any(w in c.name for w in words)]
    return sorted(fitting, key=rank)


def choose_timezone(people: Sequence[OwnerMatch], admin: AdminMatch) -> tuple[str, str]:
    """(zone, why): the zone most matched reps have; else the admin's; else UTC."""
    zones = Counter(p.tz for p in people if p.slack_id and p.tz)
    if zones:
        # Ties go to the admin's zone, then alphabetically: the same input gives the same file.
        best = max(zones.values())
        tied = sorted(z for z, n in zones.items() if n == best)
        zone = admin.tz if admin.tz is not None and admin.tz in tied else tied[0]
        return zone, f"the time zone of {best} of the {sum(zones.values())} matched reps in Slack"
    if admin.tz:
        return admin.tz, "the admin's time zone in Slack"
    return "UTC", "nobody was matched in Slack: set your team's zone, e.g. Europe/Paris"


def starter_yaml(starter: Starter) -> str:
    """The rituals file, commented so an admin can read what was found and what to fix."""
    out: list[str] = []
    crm = starter.crm_label
    out += [
        f"# Drumbeat's rituals, written by `drumbeat init` on {starter.today.isoformat()} "
        f"from {crm} and Slack.",
        '# Check it with `drumbeat check-config`; README.md ("Rituals") describes every key.',
        "#",
    ]
    out += _pipelines_reference(starter.pipelines, crm)
    out.append(_line(f"timezone: {starter.timezone}", starter.timezone_reason))
    out.append(_line("language: en", "en or fr; a person's Slack locale wins for their own DMs"))
    out += _admins(starter.admin)
    out += _people(starter.people, crm)
    out.append(_line('quiet_hours: {start: "19:00", end: "08:30"}', "no DMs in a person's own evening"))
    out.append("rituals:")
    out += _rituals(starter)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------------------------


def _line(text: str, comment: str | None = None) -> str:
    if not comment:
        return text
    return f"{text.ljust(COMMENT_COLUMN - 1)} # {_one_line(comment)}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _scalar(value: str) -> str:
    """A YAML scalar that reads back as this exact string (numeric stage ids are quoted)."""
    if _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar


def _stage_note(stage: Stage) -> str:
    if stage.is_won:
        kind = ", won"
    elif stage.is_closed:
        kind = ", lost"
    elif stage.probability is not None:
        kind = f", {stage.probability:.0%}"
    else:
        kind = ""
    return f"{_one_line(stage.label)}{kind}"


def _pipelines_reference(pipelines: Sequence[Pipeline], crm: str) -> list[str]:
    if not pipelines:
        return [f"# {crm} has no deal pipelines yet.", ""]
    out = [f"# Pipelines and stages in {crm} (this file uses the ids on the left):"]
    for pipeline in pipelines:
        out.append(f"#   {pipeline.id}: {_one_line(pipeline.label)}")
        out += [f"#     {stage.id}: {_stage_note(stage)}" for stage in pipeline.stages]
    out.append("")
    return out


def _admins(admin: AdminMatch) -> list[str]:
    if admin.slack_id and admin.email:
        who = f"{admin.slack_name or admin.email} ({admin.slack_id}); admins may update any deal"
        return [_line(f"admins: [{admin.email}]", who)]
    why = admin.reason or "run `drumbeat init --admin you@yourcompany.com` to fill it in"
    return [
        _line("admins: []", "Slack emails or user ids of who may update any deal"),
        _line("# admins: [you@yourcompany.com]", why),
    ]


def _people(people: Sequence[OwnerMatch], crm: str) -> list[str]:
    if not people:
        return [_line("people: []", f"{crm} has no active owners yet")]
    matched = sum(1 for p in people if p.slack_id)
    summary = f"every active {crm} owner: {matched} of {len(people)} matched in Slack by email"
    out = [_line("people:" if matched else "people: []", summary)]  # only comments: an empty list
    first_manager_hint = True
    for person in people:
        owner = person.owner
        if person.slack_id:
            out.append(_line(f"  - crm_owner: {json.dumps(owner.id)}", owner.name))
            out.append(_line(f"    slack: {person.slack_id}", f"matched by {owner.email}"))
            if first_manager_hint:
                # 1:1 prep and manager permissions need `manager:`; neither CRM nor Slack says who it is.
                out.append(
                    _line(
                        "    # manager: boss@yourcompany.com", "their manager: for 1:1 prep and permissions"
                    )
                )
                first_manager_hint = False
        else:
            out.append(_line(f"  # - crm_owner: {json.dumps(owner.id)}", f"{owner.name}: {person.reason}"))
            out.append(_line("  #   slack: U…", "their Slack user id, to nudge them"))
    return out


def _channel(choice: ChannelChoice) -> str:
    return _scalar_channel(choice.name)


def _scalar_channel(name: str) -> str:
    return json.dumps(f"#{name}")


def _pipeline_list(pipelines: Sequence[Pipeline], indent: str) -> list[str]:
    return [_line(f"{indent}- {_scalar(p.id)}", p.label) for p in pipelines]


def _unique(stages: Iterable[tuple[Pipeline, Stage]]) -> list[tuple[Pipeline, Stage]]:
    """Each stage id once (pipelines may share stage ids); the first pipeline names it."""
    seen: dict[str, tuple[Pipeline, Stage]] = {}
    for pipeline, stage in stages:
        seen.setdefault(stage.id, (pipeline, stage))
    return list(seen.values())


def _rituals(starter: Starter) -> list[str]:
    pipelines = starter.pipelines
    out = [
        "  - id: stale-deals",
        "    kind: stale_deals",
        _line('    schedule: "0 9 * * mon-fri"', "cron, five fields: 9:00 on weekdays"),
        _line("    stale_after_days: 14", "no activity and no update for this long"),
    ]
    if pipelines:
        out.append(_line("    pipelines:", "ids or labels; leave out for all"))
        out += _pipeline_list(pipelines, "      ")
    out += [
        "    max_per_message: 10",
        "    snooze_days: [3, 7, 14]",
        "  - id: weekly-digest",
        "    kind: pipeline_digest",
        _line('    schedule: "0 8 * * mon"', "Monday 8:00, before the weekly meeting"),
        _line(f"    channel: {_channel(starter.digest)}", starter.digest.note),
        "    compare_days: 7",
    ]
    if pipelines:
        out.append(_line("    filters:", "optional: pipelines, owners, teams"))
        out.append("      pipelines:")
        out += _pipeline_list(pipelines, "        ")
    out += [
        _line('    # mention: "@sales-team"', "optional: a Slack user group to mention"),
        "  - id: deal-hygiene",
        "    kind: hygiene",
        _line('    schedule: "0 10 * * mon-fri"', "batched with that day's nudges"),
        "    rules:",
        "      - {check: close_date_past}",
        "      - {check: missing, field: amount}",
    ]
    late = _unique(
        (p, s)
        for p in pipelines
        for s in p.stages
        if not s.is_closed and s.probability is not None and s.probability >= LATE_STAGE_PROBABILITY
    )
    if late:
        out += [
            "      - check: missing",
            "        field: hs_next_step",
            _line("        stages:", "open stages at 50% or more"),
        ]
        out += [_line(f"          - {_scalar(s.id)}", f"{s.label} ({p.label})") for p, s in late]
    else:
        out.append("      - {check: missing, field: hs_next_step}")
    out += [
        "  - id: one-on-one",
        "    kind: one_on_one_prep",
        _line('    schedule: "0 8 * * tue"', "one DM per rep to their manager (people: manager)"),
        "  - id: adoption",
        "    kind: adoption_report",
        _line('    schedule: "0 16 * * fri"', "Friday 16:00"),
        _line(f"    channel: {_channel(starter.adoption)}", starter.adoption.note),
    ]
    won = _unique((p, s) for p in pipelines for s in p.stages if s.is_won)
    if not won:
        out.append("  # big-wins (a deal_alert) needs a won stage: none of the pipelines has one yet")
        return out
    out += [
        _line("  - id: big-wins", "a deal alert: no schedule, evaluated on every sync's changes"),
        "    kind: deal_alert",
        "    when:",
        "      stage_becomes:",
    ]
    out += [_line(f"        - {_scalar(s.id)}", f"{s.label} ({p.label})") for p, s in won]
    out += [
        "      amount_at_least: 20000",
        _line(f"    post_to: {_channel(starter.wins)}", starter.wins.note),
        "    mention_owner: true",
        _line("    max_posts_per_sync: 5", "more matches from one sync become one summary post"),
    ]
    return out
