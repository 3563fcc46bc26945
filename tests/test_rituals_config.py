"""The rituals file: schema, `file:line: key: message` problems, and schedule maths across DST."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from rituals.config import (
    ConfigError,
    ConfigProblem,
    DealAlertRitual,
    HygieneRitual,
    MissingFieldRule,
    PipelineDigestRitual,
    QuietHours,
    RitualsConfig,
    StaleDealsRitual,
    cron_for_apscheduler,
    load_rituals_file,
    next_firings,
    parse_rituals_text,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "rituals.example.yaml"
PARIS = ZoneInfo("Europe/Paris")


def yaml_text(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_rituals_text(yaml_text(text))
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return [str(problem) for problem in caught.value.problems]


def one_ritual(body: str, **top: str) -> str:
    """A file with one ritual whose YAML body (indented under `- `) is given; rituals start at line 2."""
    head = "".join(f"{key}: {value}\n" for key, value in top.items()) or "timezone: UTC\n"
    lines = textwrap.dedent(body).strip("\n").splitlines()
    items = "\n".join(("  - " if i == 0 else "    ") + line for i, line in enumerate(lines))
    return f"{head}rituals:\n{items}\n"


# --- the contract's example ------------------------------------------------------------------


def test_the_contract_example_loads() -> None:
    config = load_rituals_file(EXAMPLE)
    assert config.timezone == "Europe/Paris"
    assert config.admins == ["admin@acme.com"]
    person = config.people[0]
    assert (person.crm_owner, person.slack, person.manager) == ("101", "U0ALICE", "maxime@acme.com")
    assert config.quiet_hours == QuietHours(start=time(19, 0), end=time(8, 30))
    assert config.deal_command.name == "/deal"
    assert [r.id for r in config.rituals] == [
        "stale-deals",
        "weekly-digest",
        "deal-hygiene",
        "one-on-one",
        "adoption",
        "big-wins",
    ]
    assert (config.language, person.language) == ("en", "en")
    assert [r.id for r in config.scheduled] == [r.id for r in config.rituals][:-1]
    alert = config.ritual("big-wins")
    assert isinstance(alert, DealAlertRitual)
    assert (alert.when.stages, alert.when.amount_at_least, alert.post_to) == (["closedwon"], 20000, "#wins")
    assert (alert.mention_owner, alert.max_posts_per_sync) == (True, 5)
    stale = config.ritual("stale-deals")
    assert isinstance(stale, StaleDealsRitual)
    assert (stale.stale_after_days, stale.pipelines, stale.max_per_message, stale.snooze_days) == (
        14,
        ["default"],
        10,
        [3, 7, 14],
    )
    assert (stale.enabled, stale.grace_minutes, stale.timezone, stale.timezone_name) == (
        True,
        60,
        None,
        "Europe/Paris",
    )
    digest = config.ritual("weekly-digest")
    assert isinstance(digest, PipelineDigestRitual)
    assert (digest.channel, digest.compare_days, digest.mention) == ("#sales-weekly", 7, "@sales-team")
    assert digest.filters is not None and digest.filters.pipelines == ["default"]
    hygiene = config.ritual("deal-hygiene")
    assert isinstance(hygiene, HygieneRitual)
    assert [rule.check for rule in hygiene.rules] == ["close_date_past", "missing", "missing"]
    last_rule = hygiene.rules[2]
    assert isinstance(last_rule, MissingFieldRule)
    assert (last_rule.field, last_rule.stages) == ("hs_next_step", ["presentationscheduled", "contractsent"])


def test_the_example_is_the_contract_verbatim() -> None:
    spec = Path("/work/shared/PRODUCT.md")
    if not spec.exists():
        pytest.skip("the product specification is not next to this checkout")
    block = spec.read_text().split("## The rituals file\n```yaml\n", 1)[1].split("```", 1)[0]
    assert EXAMPLE.read_text() == block


def test_defaults_and_frozen_models() -> None:
    config = parse_rituals_text(one_ritual('{id: a, kind: stale_deals, schedule: "0 9 * * *"}'))
    ritual = config.rituals[0]
    assert isinstance(ritual, StaleDealsRitual)
    assert (ritual.stale_after_days, ritual.pipelines, ritual.max_per_message) == (14, None, 10)
    assert ritual.snooze_days == [3, 7, 14]
    assert (config.timezone, config.admins, config.people, config.quiet_hours) == ("UTC", [], [], None)
    with pytest.raises(ValueError, match="frozen"):
        ritual.stale_after_days = 3


def test_yaml_numbers_that_are_not_numbers_here() -> None:
    config = parse_rituals_text(
        yaml_text("""
        people:
          - {crm_owner: 101, slack: U0ALICE}
          - {crm_owner: 0123, slack: bob@acme.com}
        quiet_hours: {start: 19:00, end: 08:30}
        rituals: []
        """)
    )
    assert [p.crm_owner for p in config.people] == ["101", "0123"]
    assert config.quiet_hours == QuietHours(start=time(19, 0), end=time(8, 30))


def test_deal_command_name_and_aliases() -> None:
    config = parse_rituals_text(
        yaml_text("""
        deal_command: {name: /opp, aliases: {close_date: close, champion: champion_name}}
        rituals: []
        """)
    )
    assert config.deal_command.name == "/opp"
    assert config.deal_command.aliases == {"close_date": "close", "champion": "champion_name"}


def test_merge_keys_are_not_duplicates() -> None:
    config = parse_rituals_text(
        yaml_text("""
        rituals:
          - &base {id: a, kind: stale_deals, schedule: "0 9 * * *", stale_after_days: 7}
          - <<: *base
            id: b
            stale_after_days: 21
        """)
    )
    assert [(r.id, getattr(r, "stale_after_days", None)) for r in config.rituals] == [("a", 7), ("b", 21)]


# --- one problem each, exactly as `check-config` prints it ------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            """
            timezone: UTC
            rituals:
              - id: a
                kind: stale_deals
                schedule: "0 9 * * *"
                channel: sales: weekly
            """,
            "rituals.yaml:6: (yaml): could not parse: mapping values are not allowed here (column 19)",
            id="yaml-syntax",
        ),
        pytest.param(
            """
            rituals:
              - id: a
                kind: one_on_one_prep
                schedule: * * * * *
            """,
            "rituals.yaml:4: (yaml): could not parse: expected alphabetic or numeric character, but found ' '"
            ' (column 16); put cron schedules in quotes, e.g. schedule: "*/15 * * * *"',
            id="unquoted-cron",
        ),
        pytest.param(
            """
            rituals:
              - id: a
               kind: x
            """,
            "rituals.yaml:3: (yaml): could not parse: expected <block end>, but found '<block mapping start>'"
            " (column 4); while parsing a block collection at line 2; check the indentation",
            id="bad-indentation",
        ),
        pytest.param(
            "",
            "rituals.yaml:1: (file): the file is empty; it needs at least a rituals list "
            "(keys: timezone, language, admins, people, quiet_hours, deal_command, rituals)",
            id="empty",
        ),
        pytest.param(
            "# nothing yet\n",
            "rituals.yaml:1: (file): the file is empty; it needs at least a rituals "
            "list (keys: timezone, language, admins, people, quiet_hours, deal_command, rituals)",
            id="comments",
        ),
        pytest.param(
            "# rituals\n- id: a\n  kind: stale_deals\n",
            "rituals.yaml:2: (file): the file must be a mapping of settings "
            "(timezone, language, admins, people, quiet_hours, deal_command, rituals), not a list",
            id="top-level-list",
        ),
        pytest.param("timezone: UTC\n", "rituals.yaml:1: rituals: is required", id="no-rituals"),
        pytest.param(
            one_ritual('{id: a, kind: stale_deals, schedule: "0 9 * * *", stale_after_days: soon}'),
            "rituals.yaml:3: rituals[a].stale_after_days: must be a whole number",
            id="wrong-type",
        ),
        pytest.param(
            one_ritual("""
                id: stale-deals
                kind: stale_deals
                schedule: "0 9 * * *"
                stale_after_day: 3
            """),
            "rituals.yaml:6: rituals[stale-deals].stale_after_day: unknown key "
            "(did you mean stale_after_days?)",
            id="unknown-key",
        ),
        pytest.param(
            one_ritual("""
                id: stale-deals
                kind: stale_deals
                schedule: "0 9 * * *"
                channel: "#sales"
            """),
            "rituals.yaml:6: rituals[stale-deals].channel: unknown key for a stale_deals ritual "
            "(it belongs to pipeline_digest and adoption_report)",
            id="key-of-another-kind",
        ),
        pytest.param(
            "timezone: Paris/Europe\nrituals: []\n",
            "rituals.yaml:1: timezone: unknown time zone (did you mean Europe/Paris?)",
            id="timezone-swapped",
        ),
        pytest.param(
            one_ritual('{id: a, kind: one_on_one_prep, schedule: "0 9 * * *", timezone: New York}'),
            "rituals.yaml:3: rituals[a].timezone: unknown time zone (did you mean America/New_York?)",
            id="timezone-city",
        ),
        pytest.param(
            "timezone: Mars/Olympus_Mons\nrituals: []\n",
            "rituals.yaml:1: timezone: unknown time zone",
            id="timezone-hopeless",
        ),
        pytest.param(
            one_ritual("""
                id: a
                kind: one_on_one_prep
                schedule: "0 9 * * *"
                schedule: "0 10 * * *"
            """),
            "rituals.yaml:6: rituals[a].schedule: duplicate key (already set at line 5; "
            "YAML would keep only the last)",
            id="duplicate-yaml-key",
        ),
        pytest.param(
            yaml_text("""
            rituals:
              - {id: digest, kind: one_on_one_prep, schedule: "0 9 * * *"}
              - {id: digest, kind: one_on_one_prep, schedule: "0 9 * * *"}
            """),
            "rituals.yaml:3: rituals[1].id: duplicate ritual id 'digest' (first used at line 2)",
            id="duplicate-ritual-id",
        ),
        pytest.param(
            one_ritual('{id: a, kind: deal_alert, when: {amount_at_least: 5000}, post_to: "#wins"}'),
            "rituals.yaml:3: rituals[a].when: needs a change to watch for: stage_becomes, "
            "amount_changed_by_percent, close_date_pushed_by_days, owner_changed or created (pipeline and "
            "amount_at_least only narrow one down)",
            id="alert-without-a-change",
        ),
        pytest.param(
            one_ritual("{id: a, kind: deal_alert, when: {created: true}, post_to: everyone}"),
            "rituals.yaml:3: rituals[a].post_to: must be a channel (#wins or a channel id), owner or manager",
            id="alert-post-to",
        ),
        pytest.param(
            one_ritual(
                '{id: a, kind: deal_alert, when: {created: true}, post_to: owner, schedule: "0 9 * * *"}'
            ),
            "rituals.yaml:3: rituals[a].schedule: a deal alert has no schedule: it is checked on the changes "
            "every sync finds",
            id="alert-with-a-schedule",
        ),
        pytest.param(
            "language: de\nrituals: []\n",
            "rituals.yaml:1: language: must be 'en' or 'fr', not 'de'",
            id="unknown-language",
        ),
        pytest.param(
            one_ritual('{id: a, kind: stale_deal, schedule: "0 9 * * *"}'),
            "rituals.yaml:3: rituals[a].kind: unknown kind 'stale_deal'; expected one of stale_deals, "
            "pipeline_digest, hygiene, one_on_one_prep, adoption_report, deal_alert "
            "(did you mean stale_deals?)",
            id="unknown-kind",
        ),
        pytest.param(
            one_ritual('{id: a, schedule: "0 9 * * *"}'),
            "rituals.yaml:3: rituals[a].kind: is required: one of stale_deals, pipeline_digest, hygiene, "
            "one_on_one_prep, adoption_report, deal_alert",
            id="missing-kind",
        ),
        pytest.param(
            one_ritual('{id: a, kind: one_on_one_prep, schedule: "0 9 * * mon-fri *"}'),
            "rituals.yaml:3: rituals[a].schedule: cron has 6 fields; Drumbeat schedules use five: "
            "minute hour day month weekday",
            id="six-field-cron",
        ),
        pytest.param(
            one_ritual('{id: a, kind: one_on_one_prep, schedule: "0 25 * * *"}'),
            "rituals.yaml:3: rituals[a].schedule: hour 25 is out of range (0-23)",
            id="cron-out-of-range",
        ),
        pytest.param(
            one_ritual('{id: a, kind: one_on_one_prep, schedule: "0 9 * * mondays"}'),
            "rituals.yaml:3: rituals[a].schedule: 'mondays' is not a weekday name (did you mean mon?)",
            id="cron-bad-weekday",
        ),
        pytest.param(
            one_ritual('{id: a, kind: one_on_one_prep, schedule: "0 9 1 * mon"}'),
            "rituals.yaml:3: rituals[a].schedule: restricts both the day of the month (1) and the weekday "
            "(mon): classic cron would fire when either matches, Drumbeat's scheduler only when both do; "
            "keep one of them",
            id="cron-day-and-weekday",
        ),
        pytest.param(
            one_ritual('{id: a, kind: one_on_one_prep, schedule: "0 9 30 feb *"}'),
            "rituals.yaml:3: rituals[a].schedule: never fires: no month in the schedule has day 30",
            id="cron-never",
        ),
        pytest.param(
            one_ritual('{id: a, kind: one_on_one_prep, schedule: "@daily"}'),
            "rituals.yaml:3: rituals[a].schedule: cron nicknames such as @daily are not supported, use five "
            'fields; write "0 0 * * *"',
            id="cron-nickname",
        ),
        pytest.param(
            "quiet_hours:\n  start: '19:00'\n  end: 7pm\nrituals: []\n",
            'rituals.yaml:3: quiet_hours.end: must be a time of day as "HH:MM" (24-hour clock), e.g. "19:00"',
            id="quiet-hours-format",
        ),
        pytest.param(
            "quiet_hours: {start: '08:00', end: '08:00'}\nrituals: []\n",
            "rituals.yaml:1: quiet_hours: start and end are the same time; remove quiet_hours to have none",
            id="quiet-hours-empty",
        ),
        pytest.param(
            "admins: admin@acme.com\nrituals: []\n",
            "rituals.yaml:1: admins: must be a list, not text (write [admin@acme.com])",
            id="admins-not-a-list",
        ),
        pytest.param(
            "admins: [u0alice]\nrituals: []\n",
            "rituals.yaml:1: admins[0]: must be a Slack user id (U… or W…) or an email address "
            "(did you mean U0ALICE?)",
            id="admin-lower-case-id",
        ),
        pytest.param(
            "people:\n  - crm_owner: 101\n    slack: U0ALICE\n    managr: U0MAX\nrituals: []\n",
            "rituals.yaml:4: people[0].managr: unknown key (did you mean manager?)",
            id="person-unknown-key",
        ),
        pytest.param(
            "people:\n  - {crm_owner: 101, slack: U0A}\n  - {crm_owner: '101', slack: U0B}\nrituals: []\n",
            "rituals.yaml:3: people[1].crm_owner: duplicate crm_owner '101' (first used at line 2)",
            id="person-duplicate-owner",
        ),
        pytest.param(
            one_ritual('{id: a, kind: pipeline_digest, schedule: "0 8 * * mon", channel: sales-weekly}'),
            "rituals.yaml:3: rituals[a].channel: must be a channel name starting with # or a channel id "
            "(C… or G…) (did you mean #sales-weekly?)",
            id="channel-without-hash",
        ),
        pytest.param(
            one_ritual(
                '{id: a, kind: pipeline_digest, schedule: "0 8 * * mon", channel: "#s", mention: here}'
            ),
            "rituals.yaml:3: rituals[a].mention: must be a user group handle starting with @ or a user group "
            "id (S…) (did you mean @here?)",
            id="mention-without-at",
        ),
        pytest.param(
            one_ritual("""
                id: hygiene
                kind: hygiene
                schedule: "0 10 * * mon-fri"
                rules:
                  - {check: close_date_past}
                  - {check: misisng, field: amount}
            """),
            "rituals.yaml:8: rituals[hygiene].rules[1].check: unknown check 'misisng'; expected one of "
            "close_date_past, missing (did you mean missing?)",
            id="unknown-hygiene-check",
        ),
        pytest.param(
            one_ritual(
                '{id: a, kind: adoption_report, schedule: "0 16 * * fri", channel: "#m", threshold: 1.5}'
            ),
            "rituals.yaml:3: rituals[a].threshold: must be at most 1",
            id="threshold-range",
        ),
        pytest.param(
            one_ritual('{id: Stale Deals, kind: one_on_one_prep, schedule: "0 9 * * *"}'),
            "rituals.yaml:3: rituals[0].id: must be lower-case letters, digits, '-' and '_', starting with a "
            "letter or digit (did you mean stale-deals?)",
            id="ritual-id-shape",
        ),
        pytest.param(
            "deal_command: {aliases: {next: hs_next_step}}\nrituals: []\n",
            "rituals.yaml:1: deal_command.aliases.next: next is already a /deal keyword; an alias needs a "
            "name of its own",
            id="alias-shadows-keyword",
        ),
        pytest.param(
            "deal_command: {aliases: {montant: hs_amount}}\nrituals: []\n",
            "rituals.yaml:1: deal_command.aliases.montant: montant is already a /deal keyword; "
            "an alias needs a name of its own",
            id="alias-shadows-french-keyword",
        ),
        pytest.param(
            one_ritual('{id: h, kind: hygiene, schedule: "0 9 * * *", rules: []}'),
            "rituals.yaml:3: rituals[h].rules: must not be empty",
            id="required-list-empty",
        ),
        pytest.param(
            one_ritual('{id: s, kind: stale_deals, schedule: "0 9 * * *", pipelines: []}'),
            "rituals.yaml:3: rituals[s].pipelines: must not be empty (leave it out instead)",
            id="optional-list-empty",
        ),
        pytest.param(
            "rituals:\n  - just text\n",
            "rituals.yaml:2: rituals[0]: must be a mapping (key: value), not text",
            id="ritual-not-a-mapping",
        ),
        pytest.param(
            one_ritual("""
                id: digest
                kind: pipeline_digest
                channel: "#sales-weekly"
            """),
            "rituals.yaml:3: rituals[digest].schedule: is required",
            id="missing-key-points-at-the-item",
        ),
        pytest.param(
            "rituals: []\n1: one\n",
            "rituals.yaml:2: 1: unknown key; expected timezone, language, admins, people, quiet_hours, "
            "deal_command, rituals",
            id="number-as-key",
        ),
        pytest.param(
            "timezone:\nrituals: []\n",
            "rituals.yaml:1: timezone: must be text, but it is empty",
            id="empty-value",
        ),
    ],
)
def test_each_problem_is_one_precise_line(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_several_problems_are_reported_at_once_in_file_order() -> None:
    text = """
        timezone: Paris/Europe
        admins: [U0ADMIN]
        rituals:
          - id: stale-deals
            kind: stale_deals
            schedule: "0 9 * * mon-fri *"
            stale_after_days: soon
            max_per_message: 50
          - id: stale-deals
            kind: pipeline_digst
        quiet_hours: {start: "19:00", end: "8h30"}
        admins: []
        """
    assert problems(text) == [
        "rituals.yaml:1: timezone: unknown time zone (did you mean Europe/Paris?)",
        "rituals.yaml:6: rituals[0].schedule: cron has 6 fields; Drumbeat schedules use five: "
        "minute hour day month weekday",
        "rituals.yaml:7: rituals[0].stale_after_days: must be a whole number",
        "rituals.yaml:8: rituals[0].max_per_message: must be at most 20",
        "rituals.yaml:9: rituals[1].id: duplicate ritual id 'stale-deals' (first used at line 4)",
        "rituals.yaml:10: rituals[1].kind: unknown kind 'pipeline_digst'; expected one of stale_deals, "
        "pipeline_digest, hygiene, one_on_one_prep, adoption_report, deal_alert "
        "(did you mean pipeline_digest?)",
        'rituals.yaml:11: quiet_hours.end: must be a time of day as "HH:MM" (24-hour clock), e.g. "19:00"',
        "rituals.yaml:12: admins: duplicate key (already set at line 2; YAML would keep only the last)",
    ]


def test_problems_name_the_file_they_were_read_from(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text("rituals:\n  - {id: a, kind: one_on_one_prep, schedule: '0 9 * *'}\n")
    with pytest.raises(ConfigError) as caught:
        load_rituals_file(path)
    assert str(caught.value) == (
        f"{path}:2: rituals[a].schedule: cron has 4 fields; Drumbeat schedules use five: "
        "minute hour day month weekday"
    )
    assert caught.value.problems == [
        ConfigProblem(
            str(path),
            2,
            "rituals[a].schedule",
            "cron has 4 fields; Drumbeat schedules use five: minute hour day month weekday",
        )
    ]


def test_unreadable_files_are_config_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope\.yaml:1: \(file\): cannot read the file: No such file"):
        load_rituals_file(missing)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"timezone: UTC\nrituals: [\xff]\n")
    with pytest.raises(ConfigError, match=r"binary\.yaml:2: \(file\): is not UTF-8 text"):
        load_rituals_file(binary)


def test_no_pydantic_jargon_or_urls_reach_the_admin() -> None:
    text = """
        timezone: 3
        admins: {a: b}
        people: [{crm_owner: [1], slack: 3}]
        quiet_hours: [1]
        deal_command: {name: 5, aliases: [x]}
        rituals:
          - {id: 1, kind: stale_deals, schedule: "0 9 * * *", stale_after_days: 2.5, enabled: maybe,
             pipelines: [], snooze_days: [0], grace_minutes: x, max_per_message: null}
          - {id: b, kind: pipeline_digest, schedule: "0 9 * * *", channel: "#Sales", filters: 3}
          - {id: c, kind: hygiene, schedule: "0 9 * * *", rules: []}
          - {id: d, kind: adoption_report, schedule: "0 9 * * *", channel: C123, ranking: 7, threshold: .nan}
        """
    lines = problems(text)
    assert len(lines) >= 15
    for line in lines:
        assert "Input should" not in line
        assert "pydantic" not in line
        assert "http" not in line
        assert "Value error" not in line


# --- schedules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "normalised"),
    [
        ("0 9 * * mon-fri", "0 9 * * mon,tue,wed,thu,fri"),
        ("0 9 * * 1-5", "0 9 * * mon,tue,wed,thu,fri"),  # classic cron numbering, not APScheduler's
        ("0 9 * * 0", "0 9 * * sun"),
        ("0 9 * * 7", "0 9 * * sun"),
        ("0 9 * * 5-7", "0 9 * * fri,sat,sun"),
        ("*/15 8-18 * * *", "*/15 8-18 * * *"),
        ("0 8 1 jan-jun/2 *", "0 8 1 1-6/2 *"),
        ("0  9 * *   MON", "0 9 * * mon"),
    ],
)
def test_cron_translation_for_apscheduler(expr: str, normalised: str) -> None:
    assert cron_for_apscheduler(expr) == normalised


def _paris_ritual(schedule: str) -> RitualsConfig:
    return parse_rituals_text(
        one_ritual(f'{{id: r, kind: one_on_one_prep, schedule: "{schedule}"}}', timezone="Europe/Paris")
    )


def test_daily_schedule_keeps_local_time_across_both_dst_switches() -> None:
    ritual = _paris_ritual("0 9 * * *").rituals[0]
    spring = next_firings(ritual, datetime(2026, 3, 27, 12, 0, tzinfo=UTC), count=4)
    assert [f.isoformat() for f in spring] == [
        "2026-03-28T09:00:00+01:00",
        "2026-03-29T09:00:00+02:00",  # last Sunday of March: clocks went forward at 02:00
        "2026-03-30T09:00:00+02:00",
        "2026-03-31T09:00:00+02:00",
    ]
    assert [f.astimezone(UTC).hour for f in spring] == [8, 7, 7, 7]
    autumn = next_firings(ritual, datetime(2026, 10, 24, 12, 0, tzinfo=UTC), count=3)
    assert [f.isoformat() for f in autumn] == [
        "2026-10-25T09:00:00+01:00",  # last Sunday of October: clocks went back at 03:00
        "2026-10-26T09:00:00+01:00",
        "2026-10-27T09:00:00+01:00",
    ]
    assert [f.astimezone(UTC).hour for f in autumn] == [8, 8, 8]
    assert all(f.tzinfo == PARIS for f in spring + autumn)


def test_a_time_skipped_by_spring_forward_fires_an_hour_later_by_the_clock() -> None:
    # 02:30 does not exist in Paris on 2026-03-29. APScheduler 3 fires at 02:30 "+01:00" = 01:30Z,
    # which the wall clock shows as 03:30 CEST; the firing is not skipped.
    ritual = _paris_ritual("30 2 * * *").rituals[0]
    firings = next_firings(ritual, datetime(2026, 3, 28, 12, 0, tzinfo=UTC), count=2)
    assert [f.isoformat() for f in firings] == ["2026-03-29T03:30:00+02:00", "2026-03-30T02:30:00+02:00"]
    assert firings[0].astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_a_time_repeated_by_fall_back_fires_twice_as_apscheduler_does() -> None:
    ritual = _paris_ritual("30 2 * * *").rituals[0]
    firings = next_firings(ritual, datetime(2026, 10, 24, 12, 0, tzinfo=UTC), count=3)
    assert [f.astimezone(UTC).isoformat() for f in firings] == [
        "2026-10-25T00:30:00+00:00",  # 02:30 CEST
        "2026-10-25T01:30:00+00:00",  # 02:30 CET, the same wall-clock time an hour later
        "2026-10-26T01:30:00+00:00",
    ]


def test_next_firings_are_strictly_after_and_use_the_ritual_zone() -> None:
    config = parse_rituals_text(
        yaml_text("""
        timezone: Europe/Paris
        rituals:
          - {id: paris, kind: stale_deals, schedule: "0 9 * * mon-fri"}
          - {id: ny, kind: stale_deals, schedule: "0 9 * * 1-5", timezone: America/New_York}
        """)
    )
    paris, new_york = config.rituals
    friday_nine = datetime(2026, 6, 5, 9, 0, tzinfo=PARIS)
    assert [f.isoformat() for f in next_firings(paris, friday_nine, count=2)] == [
        "2026-06-08T09:00:00+02:00",
        "2026-06-09T09:00:00+02:00",
    ]
    assert [f.isoformat() for f in next_firings(new_york, friday_nine, count=1)] == [
        "2026-06-05T09:00:00-04:00"
    ]
    # A ritual without a zone of its own follows the file's, unless the caller names another.
    assert next_firings(paris, friday_nine, count=1, default_tz="UTC")[0].isoformat() == (
        "2026-06-05T09:00:00+00:00"
    )
    assert str(paris.trigger("UTC").timezone) == "UTC"
    assert str(new_york.trigger("UTC").timezone) == "America/New_York"
    with pytest.raises(ValueError, match="timezone-aware"):
        next_firings(paris, datetime(2026, 6, 5, 9, 0))


# --- quiet hours -----------------------------------------------------------------------------


def test_quiet_hours_across_midnight() -> None:
    config = parse_rituals_text('quiet_hours: {start: "19:00", end: "08:30"}\nrituals: []\n')
    quiet = config.quiet_hours
    assert quiet is not None
    assert quiet.crosses_midnight
    assert [
        quiet.contains(time(h, m)) for h, m in [(18, 59), (19, 0), (23, 59), (0, 0), (8, 29), (8, 30)]
    ] == [
        False,
        True,
        True,
        True,
        True,
        False,
    ]


def test_quiet_hours_within_a_day() -> None:
    quiet = parse_rituals_text("quiet_hours: {start: '12:00', end: '13:30'}\nrituals: []\n").quiet_hours
    assert quiet is not None and not quiet.crosses_midnight
    assert [quiet.contains(time(h, m)) for h, m in [(11, 59), (12, 0), (13, 29), (13, 30)]] == [
        False,
        True,
        True,
        False,
    ]


# --- nothing but ConfigError, whatever the text --------------------------------------------

_FRAGMENTS = [
    "rituals",
    "timezone",
    "admins",
    "people",
    "quiet_hours",
    "deal_command",
    "aliases",
    "id",
    "kind",
    "schedule",
    "stale_deals",
    "hygiene",
    "rules",
    "check",
    "missing",
    "field",
    "channel",
    "Europe/Paris",
    ":",
    ": ",
    " ",
    "  ",
    "\n",
    "\n  ",
    "\n    ",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "'",
    '"',
    "&a",
    "*a",
    "<<",
    "!!int",
    "!!str",
    "!!python/object",
    "---",
    "...",
    "?",
    "|",
    ">",
    "\t",
    "%YAML 1.1",
    "0 9 * * mon-fri",
    "19:00",
    "0123",
    "1",
    "-1",
    "2.5",
    ".nan",
    "yes",
    "null",
    "~",
    "U0ALICE",
    "@",
    "\\",
    "2026-01-01",
    "\u00e9",
    "\x00",
]


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=3), max_size=40).map("".join))
def test_any_text_gives_a_config_or_a_config_error(text: str) -> None:
    try:
        parse_rituals_text(text)
    except ConfigError as exc:
        found = exc.problems
    else:
        return
    assert found
    for problem in found:
        assert problem.line >= 1
        assert problem.key and problem.message


def _containers(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=8), children, max_size=3),
    )


_LEAVES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 100) | st.floats(allow_nan=True) | st.text(max_size=12),
    _containers,
    max_leaves=6,
)


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


_EXAMPLE_DATA = yaml.safe_load(EXAMPLE.read_text())
_EXAMPLE_PATHS = _paths(_EXAMPLE_DATA)[1:]


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_EXAMPLE_PATHS), _LEAVES, st.booleans())
def test_any_change_to_the_example_gives_a_config_or_a_config_error(
    path: tuple[object, ...], leaf: object, as_key: bool
) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    parent = data
    for element in path[:-1]:
        parent = parent[element]
    if as_key and isinstance(parent, dict) and isinstance(leaf, str):
        parent[leaf] = parent.pop(path[-1])
    else:
        parent[path[-1]] = leaf
    try:
        parse_rituals_text(yaml.safe_dump(data, allow_unicode=True))
    except ConfigError as exc:
        found = exc.problems
    else:
        return
    assert found
    assert all(
        problem.line <= len(yaml.safe_dump(data, allow_unicode=True).splitlines()) + 1 for problem in found
    )
