"""Issue 12, defect 9: hostile rituals files get a clear `file:line: key:` answer, fast, in little memory."""

from __future__ import annotations

import resource
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rituals.check import check_config, format_report
from rituals.config import ConfigError, parse_rituals_text

NOW = datetime(2026, 10, 22, 12, 0, tzinfo=UTC)


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_rituals_text(textwrap.dedent(text).lstrip("\n"))
    return [str(p) for p in caught.value.problems]


def check(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "rituals.yaml"
    path.write_text(text, encoding="utf-8")
    return [
        line.replace(f"{path}:", "rituals.yaml:")
        for line in format_report(check_config(path, crm=None, now=NOW))
    ]


def test_a_ritual_id_longer_than_its_column_is_refused(tmp_path: Path) -> None:
    long_id = "r" * 112
    text = f'rituals:\n  - {{id: {long_id}, kind: one_on_one_prep, schedule: "0 9 * * *"}}\n'
    assert check(tmp_path, text) == [
        "rituals.yaml:2: rituals[0].id: is 112 characters; an id may be at most 100"
    ]
    path = tmp_path / "ok.yaml"
    path.write_text(text.replace(long_id, "r" * 100), encoding="utf-8")
    assert check_config(path, crm=None, now=NOW).ok


def test_slack_ids_and_owner_ids_longer_than_their_columns_are_refused() -> None:
    found = problems_of(f"""
        admins: [U{"A" * 40}]
        people:
          - {{crm_owner: "{"1" * 70}", slack: U0ALICE}}
        rituals: []
        """)
    assert found == [
        "rituals.yaml:1: admins[0]: is 41 characters; a Slack user id or email may be at most 32",
        "rituals.yaml:3: people[0].crm_owner: is 70 characters; a CRM owner id or email may be at most 64",
    ]


def test_a_file_over_the_size_limit_fails_fast_without_being_parsed(tmp_path: Path) -> None:
    ritual = '  - {{id: r{0}, kind: one_on_one_prep, schedule: "0 9 * * *"}}\n'
    text = "rituals:\n" + "".join(ritual.format(i) for i in range(200_000))
    assert len(text) > 10_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    found = check(tmp_path, text)
    assert time.monotonic() - started < 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: not gigabytes
    assert len(found) == 1
    assert found[0].startswith("rituals.yaml:1: (file): the file is 1")
    assert "a rituals file may be at most 1 MB" in found[0]


def test_too_many_rituals_under_the_size_limit_fail_on_the_count(tmp_path: Path) -> None:
    ritual = '  - {{id: r{0}, kind: one_on_one_prep, schedule: "0 9 * * *"}}\n'
    text = "timezone: UTC\nrituals:\n" + "".join(ritual.format(i) for i in range(10_000))
    started = time.monotonic()
    found = check(tmp_path, text)
    assert time.monotonic() - started < 15
    assert found == ["rituals.yaml:2: rituals: 10,000 entries; a rituals file may have at most 500"]


def test_yaml_aliases_cannot_multiply_into_billions_of_values() -> None:
    lines = ["a0: &a0 [U0ALICE, U0ALICE, U0ALICE, U0ALICE, U0ALICE, U0ALICE, U0ALICE, U0ALICE, U0ALICE]"]
    lines += [
        f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 9)
    ]
    text = "\n".join(["x:", *("  " + line for line in lines), "admins: *a8", "rituals: []"]) + "\n"
    started = time.monotonic()
    found = problems_of(text)
    assert time.monotonic() - started < 2
    assert found == [
        "rituals.yaml:1: (file): more than 200,000 values once YAML aliases (*name) are expanded; "
        "write the values out instead"
    ]


def test_a_person_cannot_be_their_own_manager() -> None:
    found = problems_of("""
        people:
          - {crm_owner: "101", slack: U0ALICE, manager: U0ALICE}
          - {crm_owner: bruno@acme.example, slack: U0BRUNO, manager: Bruno@acme.example}
        rituals: []
        """)
    assert found == [
        "rituals.yaml:2: people[0].manager: U0ALICE is this person's own manager; a person cannot "
        "manage themselves",
        "rituals.yaml:3: people[1].manager: bruno@acme.example is this person's own manager; a person "
        "cannot manage themselves",
    ]


def test_a_manager_cycle_is_an_error() -> None:
    found = problems_of("""
        people:
          - {crm_owner: "101", slack: U0ALICE, manager: U0BRUNO}
          - {crm_owner: "102", slack: U0BRUNO, manager: chloe@acme.example}
          - {crm_owner: chloe@acme.example, slack: U0CHLOE, manager: U0ALICE}
          - {crm_owner: "104", slack: U0DAVID, manager: U0ALICE}
        rituals: []
        """)
    assert found == [
        "rituals.yaml:2: people[0].manager: manager cycle: U0ALICE manages U0CHLOE manages U0BRUNO "
        "manages U0ALICE; someone in it must report to a person outside it"
    ]


def test_a_two_person_cycle_is_an_error_and_a_plain_hierarchy_is_not() -> None:
    found = problems_of("""
        people:
          - {crm_owner: "101", slack: U0ALICE, manager: U0BRUNO}
          - {crm_owner: "102", slack: U0BRUNO, manager: U0ALICE}
        rituals: []
        """)
    assert len(found) == 1 and "manager cycle: U0ALICE manages U0BRUNO manages U0ALICE" in found[0]
    parse_rituals_text(
        "people:\n"
        "  - {crm_owner: '101', slack: U0ALICE, manager: U0BRUNO}\n"
        "  - {crm_owner: '102', slack: U0BRUNO, manager: U0MAXIME}\n"
        "rituals: []\n"
    )


def test_a_misspelt_field_is_echoed_with_a_suggestion() -> None:
    found = problems_of("""
        rituals:
          - id: hygiene
            kind: hygiene
            schedule: "0 10 * * mon-fri"
            rules:
              - check: missing
                field: amout
        """)
    assert found == [
        "rituals.yaml:7: rituals[hygiene].rules[0].field: 'amout' is not a field Drumbeat can check "
        "(did you mean amount?); it checks a missing amount, closedate, hs_next_step, hubspot_owner_id"
    ]
