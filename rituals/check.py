"""`drumbeat check-config`: the rituals file checked against its schema and, when reachable, the CRM.

Schema problems come from the loader (``load_rituals_file``). When the file is valid and a CRM is
given, every reference the file makes into the CRM is looked up there, with one request per kind
of thing (pipelines, deal properties, owners) and only for the kinds the file uses:

* ``pipelines:`` of stale_deals rituals and of digest ``filters`` — pipeline ids or labels;
* hygiene ``missing`` rules' ``stages:`` — stage ids or labels of any pipeline;
* hygiene ``missing`` rules' ``field`` and ``deal_command.aliases`` targets other than the
  built-in keys — deal property (internal) names;
* ``people[].crm_owner`` and digest ``filters.owners`` — active CRM owner ids or emails;
* digest ``filters.teams`` — team ids or names that active owners belong to.

Each problem points at the line of the offending value, as ``file:line: key: what is wrong``.
A CRM that cannot be asked is not an error: the report carries a warning saying what was not
checked, and the schema check stands on its own.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from core.i18n import ENGLISH, N_, Translator
from core.i18n.message import Message
from integrations.base import CRM, CrmError, Owner, Pipeline
from rituals._yaml_lines import Loc, load_yaml_with_lines
from rituals.config import (
    CANONICAL_DEAL_KEYS,
    AlertConditions,
    ConfigError,
    ConfigProblem,
    DealAlertRitual,
    DigestFilters,
    HygieneRitual,
    MissingFieldRule,
    PipelineDigestRitual,
    RitualsConfig,
    StaleDealsRitual,
    next_firings,
    parse_rituals_text,
    read_rituals_text,
    suggestion_hint,
)

__all__ = ["NOT_CHECKED", "CheckReport", "RitualSummary", "check_config", "format_report"]

NOT_CHECKED = N_("stages, pipelines and fields were not checked: {reason}")
FIRINGS_SHOWN = 3


@dataclass(frozen=True)
class RitualSummary:
    """One ritual as check-config shows it; ``next_firings`` are in the ritual's zone."""

    ritual_id: str
    kind: str
    timezone: str
    next_firings: list[datetime]
    enabled: bool = True


@dataclass(frozen=True)
class CheckReport:
    """``problems`` make the file unusable (exit 1); ``warnings`` are printed but do not fail it."""

    problems: list[ConfigProblem]
    warnings: list[str] = field(default_factory=list)
    summaries: list[RitualSummary] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_config(path: Path, *, crm: CRM | None, now: datetime, t: Translator = ENGLISH) -> CheckReport:
    """Validate the rituals file at ``path``; ``now`` (aware) is where next firings count from.

    Warnings are in ``t``'s language; problems in any (``format_report`` says them)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    try:
        config, lines = _load(path)
    except ConfigError as exc:
        return CheckReport(problems=list(exc.problems))
    warnings: list[str] = []
    problems: list[ConfigProblem] = []
    refs = _references(config)
    if refs:
        if crm is None:
            warnings.append(t._(NOT_CHECKED, reason=t._("no CRM configured")))
        else:
            try:
                problems = _crm_problems(refs, crm, _Where(str(path), lines, config))
            except CrmError as exc:
                warnings.append(t._(NOT_CHECKED, reason=exc))
    return CheckReport(problems=problems, warnings=warnings, summaries=_summaries(config, now))


def format_report(report: CheckReport, *, t: Translator = ENGLISH) -> list[str]:
    """The lines check-config prints on stdout: the problems, else one line per ritual.

    Warnings are not included; print them apart (stderr), whatever the outcome.
    """
    if report.problems:
        return [problem.text(t) for problem in report.problems]
    if not report.summaries:
        return [t._("the file defines no rituals")]
    rows = [(s.ritual_id, s.kind, s.timezone, _firings_text(s, t)) for s in report.summaries]
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    return ["  ".join([*(row[i].ljust(widths[i]) for i in range(3)), row[3]]) for row in rows]


# --------------------------------------------------------------------------------------------
# Loading with line numbers


def _load(path: Path) -> tuple[RitualsConfig, dict[Loc, int]]:
    """The config and the line of every key and list item, from one read of the file."""
    text = read_rituals_text(path)  # ConfigError when unreadable, too big or not UTF-8
    config = parse_rituals_text(text, filename=str(path))
    return config, load_yaml_with_lines(text).lines


@dataclass(frozen=True)
class _Where:
    filename: str
    lines: dict[Loc, int]
    config: RitualsConfig

    def problem(self, path: Loc, message: Message) -> ConfigProblem:
        return ConfigProblem.of(self.filename, self._line(path), self._key(path), message)

    def _line(self, path: Loc) -> int:
        # The deepest part of the path the file spells out (merge keys and aliases may hide the rest).
        for end in range(len(path), 0, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return 1

    def _key(self, path: Loc) -> str:
        text = ""
        for index, element in enumerate(path):
            if isinstance(element, int):
                label = str(element)
                if index == 1 and path[0] == "rituals":
                    label = self.config.rituals[element].id
                text += f"[{label}]"
            else:
                text += ("." if text else "") + element
        return text


# --------------------------------------------------------------------------------------------
# What the file refers to in the CRM


_Kind = Literal["pipeline", "stage", "property", "owner", "team"]


@dataclass(frozen=True)
class _Reference:
    kind: _Kind
    path: Loc
    value: str


def _references(config: RitualsConfig) -> list[_Reference]:
    """Every value the file takes from the CRM, in file order."""
    refs: list[_Reference] = []
    for index, person in enumerate(config.people):
        refs.append(_Reference("owner", ("people", index, "crm_owner"), person.crm_owner))
    for alias, target in config.deal_command.aliases.items():
        if target not in CANONICAL_DEAL_KEYS:
            refs.append(_Reference("property", ("deal_command", "aliases", alias), target))
    for r, ritual in enumerate(config.rituals):
        base: Loc = ("rituals", r)
        if isinstance(ritual, StaleDealsRitual):
            for i, name in enumerate(ritual.pipelines or ()):
                refs.append(_Reference("pipeline", (*base, "pipelines", i), name))
        elif isinstance(ritual, PipelineDigestRitual | DealAlertRitual) and ritual.filters is not None:
            refs.extend(_filter_references((*base, "filters"), ritual.filters))
        elif isinstance(ritual, HygieneRitual):
            for k, rule in enumerate(ritual.rules):
                if isinstance(rule, MissingFieldRule):
                    refs.append(_Reference("property", (*base, "rules", k, "field"), rule.field))
                    for i, stage in enumerate(rule.stages or ()):
                        refs.append(_Reference("stage", (*base, "rules", k, "stages", i), stage))
        if isinstance(ritual, DealAlertRitual):
            refs.extend(_alert_references((*base, "when"), ritual.when))
    return refs


def _filter_references(filters: Loc, given: DigestFilters) -> list[_Reference]:
    return [
        *(
            _Reference("pipeline", (*filters, "pipelines", i), name)
            for i, name in enumerate(given.pipelines or ())
        ),
        *(_Reference("owner", (*filters, "owners", i), owner) for i, owner in enumerate(given.owners or ())),
        *(_Reference("team", (*filters, "teams", i), team) for i, team in enumerate(given.teams or ())),
    ]


def _alert_references(when: Loc, conditions: AlertConditions) -> list[_Reference]:
    """`stage_becomes` and `pipeline` take one value or a list: the path says which element."""
    refs: list[_Reference] = []
    keys: tuple[tuple[str, _Kind], ...] = (("stage_becomes", "stage"), ("pipeline", "pipeline"))
    for key, kind in keys:
        value = getattr(conditions, key)
        if isinstance(value, str):
            refs.append(_Reference(kind, (*when, key), value))
        else:
            refs.extend(_Reference(kind, (*when, key, i), v) for i, v in enumerate(value or ()))
    return refs


def _crm_problems(refs: list[_Reference], crm: CRM, where: _Where) -> list[ConfigProblem]:
    """Look everything up; one request (or paged list) per kind, and only for kinds in use."""
    kinds = {ref.kind for ref in refs}
    pipelines = crm.fetch_pipelines() if kinds & {"pipeline", "stage"} else []
    properties = crm.fetch_deal_properties() if "property" in kinds else set()
    owners = [o for o in crm.fetch_owners() if not o.archived] if kinds & {"owner", "team"} else []

    problems: list[ConfigProblem] = []
    for ref in refs:
        if ref.kind == "pipeline":
            message = _pipeline_problem(ref.value, pipelines)
        elif ref.kind == "stage":
            message = _stage_problem(ref.value, pipelines)
        elif ref.kind == "property":
            message = _property_problem(ref.value, properties)
        elif ref.kind == "team":
            message = _team_problem(ref.value, owners)
        else:
            message = _owner_problem(ref.value, owners)
        if message is not None:
            problems.append(where.problem(ref.path, message))
    return sorted(problems, key=lambda problem: problem.line)  # stable: file order within a line


def _pipeline_problem(name: str, pipelines: Sequence[Pipeline]) -> Message | None:
    wanted = name.strip().lower()
    if any(wanted in (p.id.lower(), p.label.lower()) for p in pipelines):
        return None
    if not pipelines:
        return Message(N_("unknown pipeline {name}: the CRM has no deal pipelines"), name=repr(name))
    hint = _did_you_mean(name, [text for p in pipelines for text in (p.label, p.id)])
    known = ", ".join(_named(p.id, p.label) for p in pipelines)
    return Message(
        N_("unknown pipeline {name}{hint}; pipelines: {known}"), name=repr(name), hint=hint, known=known
    )


def _stage_problem(name: str, pipelines: Sequence[Pipeline]) -> Message | None:
    wanted = name.strip().lower()
    if any(wanted in (s.id.lower(), s.label.lower()) for p in pipelines for s in p.stages):
        return None
    if not any(p.stages for p in pipelines):
        return Message(N_("unknown stage {name}: the CRM has no deal stages"), name=repr(name))
    hint = _did_you_mean(name, [text for p in pipelines for s in p.stages for text in (s.label, s.id)])
    known = "; ".join(
        f"{p.label}: " + ", ".join(_named(s.id, s.label) for s in p.stages) for p in pipelines if p.stages
    )
    return Message(
        N_("unknown stage {name}{hint}; stages by pipeline: {known}"), name=repr(name), hint=hint, known=known
    )


def _property_problem(name: str, properties: set[str]) -> Message | None:
    if name in properties:
        return None
    hint = _did_you_mean(name, sorted(properties))
    if hint:
        return Message(N_("unknown deal property {name}{hint}"), name=repr(name), hint=hint)
    return Message(
        N_("unknown deal property {name}; use the property's internal name, not its label"), name=repr(name)
    )


def _owner_problem(owner: str, owners: Sequence[Owner]) -> Message | None:
    if "@" in owner:
        emails = [o.email.lower() for o in owners if o.email]
        if owner.lower() in emails:
            return None
        hint = _did_you_mean(owner.lower(), emails)
        return Message(N_("no active CRM owner has the email {email}{hint}"), email=owner, hint=hint)
    if any(o.id == owner for o in owners):
        return None
    # No did-you-mean: owner ids are numbers, and a near one is someone else.
    return Message(N_("no active CRM owner has the id {owner}"), owner=repr(owner))


def _team_problem(team: str, owners: Sequence[Owner]) -> Message | None:
    teams = {t.id: t.name for o in owners for t in o.teams}
    if any(team.strip().lower() in (ident.lower(), name.lower()) for ident, name in teams.items()):
        return None
    if not teams:
        return Message(
            N_("unknown team {team}: no CRM owner belongs to a team (teams need a HubSpot paid tier)"),
            team=repr(team),
        )
    hint = _did_you_mean(team, [*teams.values(), *teams])
    known = ", ".join(_named(ident, name) for ident, name in sorted(teams.items(), key=lambda t: t[1]))
    return Message(N_("unknown team {team}{hint}; teams: {known}"), team=repr(team), hint=hint, known=known)


def _named(ident: str, label: str) -> str:
    return label if label.lower() == ident.lower() else f"{label} ({ident})"


def _did_you_mean(word: str, candidates: Iterable[str]) -> Message | str:
    """Closest candidate, compared without case; shown as the CRM spells it."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    matches = difflib.get_close_matches(word.strip().lower(), list(by_lower), n=1, cutoff=0.6)
    return suggestion_hint(by_lower[matches[0]]) if matches else ""


# --------------------------------------------------------------------------------------------
# Summaries


def _summaries(config: RitualsConfig, now: datetime) -> list[RitualSummary]:
    return [
        RitualSummary(
            ritual_id=ritual.id,
            kind=ritual.kind,
            timezone=ritual.timezone_name,
            next_firings=next_firings(ritual, now, FIRINGS_SHOWN) if ritual.enabled else [],
            enabled=ritual.enabled,
        )
        for ritual in config.scheduled
    ]


def _firings_text(summary: RitualSummary, t: Translator) -> str:
    if not summary.enabled:
        return t._("disabled")
    if not summary.next_firings:
        return t._("next: never")
    texts = [_moment(moment, summary.next_firings[0].year, t) for moment in summary.next_firings]
    if len(set(texts)) < len(texts):
        # The same wall-clock time twice: a fall-back night; the zone's abbreviation tells them apart.
        moments = summary.next_firings
        texts = [f"{text} {moment.tzname()}" for text, moment in zip(texts, moments, strict=True)]
    return t._("next: {firings}", firings=", ".join(texts))


def _moment(moment: datetime, first_year: int, t: Translator) -> str:
    day = t.day(moment) if moment.year == first_year else f"{t.day(moment)} {moment.year}"
    return f"{day} {t.clock(moment)}"
