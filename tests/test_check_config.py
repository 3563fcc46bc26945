"""`drumbeat check-config` underneath: rituals.check against the fake HubSpot, the demo CRM, or no CRM."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hubspot import HubSpot

from integrations.base import CrmAuthError
from integrations.demo import DEMO_DEAL_PROPERTIES, DemoCRM
from integrations.demo_seed import seed_demo_crm
from rituals.check import CheckReport, check_config, format_report
from tests.fakes.hubspot import DEALS_READ, SCHEMAS_DEALS_READ, FakeHubSpot, Stage
from tests.hubspot_helpers import FakeTime, fast_adapter

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
# Thursday 22 October 2026, noon in Paris: Europe leaves summer time on Sunday 25 October,
# the United States on Sunday 1 November.
NOW = datetime(2026, 10, 22, 12, 0, tzinfo=PARIS)

VALID = """\
timezone: Europe/Paris
people:
  - crm_owner: "101"
    slack: U0ALICE
  - crm_owner: Bruno@Acme.example
    slack: U0BRUNO
deal_command:
  aliases: {budget: budget_code, phase: stage}
rituals:
  - id: stale-deals
    kind: stale_deals
    schedule: "0 9 * * mon-fri"
    pipelines: [default, RENEWALS]
  - id: weekly-digest
    kind: pipeline_digest
    schedule: "0 8 * * mon"
    channel: "#sales-weekly"
    filters: {pipelines: [sales pipeline], owners: ["102"]}
  - id: deal-hygiene
    kind: hygiene
    schedule: "0 10 * * mon-fri"
    rules:
      - {check: close_date_past}
      - {check: missing, field: amount}
      - {check: missing, field: hs_next_step, stages: [presentationscheduled, Contract Sent, renewal due]}
  - id: one-on-one
    kind: one_on_one_prep
    schedule: "0 8 * * tue"
    timezone: America/New_York
"""

BROKEN = """\
timezone: Europe/Paris
people:
  - crm_owner: "101"
    slack: U0ALICE
  - crm_owner: "999"
    slack: U0BRUNO
  - crm_owner: brunno@acme.example
    slack: U0CARLA
deal_command:
  aliases:
    budget: budjet_code
    phase: stage
rituals:
  - id: stale-deals
    kind: stale_deals
    schedule: "0 9 * * mon-fri"
    pipelines:
      - default
      - Renewal
  - id: weekly-digest
    kind: pipeline_digest
    schedule: "0 8 * * mon"
    channel: "#sales-weekly"
    filters: {pipelines: [Enterprise], owners: ["102", "103"]}
  - id: deal-hygiene
    kind: hygiene
    schedule: "0 10 * * mon-fri"
    rules:
      - {check: missing, field: hs_next_step, stages: [contractsent, Contrat Sent]}
"""


@pytest.fixture
def fake(fake_hubspot: FakeHubSpot) -> FakeHubSpot:
    fake_hubspot.add_default_pipeline()
    fake_hubspot.add_pipeline(
        "renewals",
        "Renewals",
        [Stage("renewal-due", "Renewal due", 0.5), Stage("renewal-signed", "Renewed", 1.0, True)],
    )
    fake_hubspot.add_owner("101", "alice@acme.example", "Alice", "Martin")
    fake_hubspot.add_owner("102", "bruno@acme.example", "Bruno", "Costa")
    fake_hubspot.add_owner("103", "carla@acme.example", "Carla", "Rossi", archived=True)
    fake_hubspot.deal_properties.add("budget_code")
    fake_hubspot.reset_requests()
    return fake_hubspot


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rituals.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def paris(day: int, hour: int, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=PARIS)


# --- success


def test_a_valid_file_checks_clean_and_shows_dst_correct_next_firings(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    report = check_config(write(tmp_path, VALID), crm=fast_adapter(fake), now=NOW)

    assert report.ok
    assert report.problems == []
    assert report.warnings == []
    summaries = {s.ritual_id: s for s in report.summaries}
    assert list(summaries) == ["stale-deals", "weekly-digest", "deal-hygiene", "one-on-one"]
    stale = summaries["stale-deals"]
    assert (stale.kind, stale.timezone) == ("stale_deals", "Europe/Paris")
    # 09:00 in Paris on both sides of the switch: 07:00Z in summer time, 08:00Z after it.
    assert stale.next_firings == [paris(23, 9), paris(26, 9), paris(27, 9)]
    assert [f.astimezone(UTC).hour for f in stale.next_firings] == [7, 8, 8]
    assert all(f.tzinfo == PARIS for f in stale.next_firings)
    one_on_one = summaries["one-on-one"]
    assert one_on_one.timezone == "America/New_York"
    assert [f.utcoffset() for f in one_on_one.next_firings] == [
        timedelta(hours=-4),
        timedelta(hours=-5),
        timedelta(hours=-5),
    ]
    assert [f.astimezone(NEW_YORK).hour for f in one_on_one.next_firings] == [8, 8, 8]

    assert format_report(report) == [
        "stale-deals    stale_deals      Europe/Paris      "
        "next: Fri 23 Oct 09:00, Mon 26 Oct 09:00, Tue 27 Oct 09:00",
        "weekly-digest  pipeline_digest  Europe/Paris      "
        "next: Mon 26 Oct 08:00, Mon 2 Nov 08:00, Mon 9 Nov 08:00",
        "deal-hygiene   hygiene          Europe/Paris      "
        "next: Fri 23 Oct 10:00, Mon 26 Oct 10:00, Tue 27 Oct 10:00",
        "one-on-one     one_on_one_prep  America/New_York  "
        "next: Tue 27 Oct 08:00, Tue 3 Nov 08:00, Tue 10 Nov 08:00",
    ]


def test_the_crm_is_asked_once_per_kind_of_thing(fake: FakeHubSpot, tmp_path: Path) -> None:
    check_config(write(tmp_path, VALID), crm=fast_adapter(fake), now=NOW)

    assert fake.request_count(path_contains="/crm/v3/pipelines/deals") == 1
    assert fake.request_count(path_contains="/crm/v3/properties/deals") == 1
    assert fake.request_count(path_contains="/crm/v3/owners") == 1
    assert fake.request_count() == 3


def test_nothing_is_asked_of_the_crm_when_the_file_refers_to_nothing_in_it(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    text = (
        "rituals:\n"
        '  - {id: adoption, kind: adoption_report, schedule: "0 16 * * fri", channel: "#managers"}\n'
    )
    report = check_config(write(tmp_path, text), crm=fast_adapter(fake), now=NOW)

    assert report.ok
    assert report.warnings == []
    assert fake.request_count() == 0
    assert format_report(report) == [
        "adoption  adoption_report  UTC  next: Fri 23 Oct 16:00, Fri 30 Oct 16:00, Fri 6 Nov 16:00"
    ]


def test_a_fall_back_night_shows_which_of_the_two_times_is_which(tmp_path: Path) -> None:
    text = (
        'timezone: Europe/Paris\nrituals:\n  - {id: night, kind: one_on_one_prep, schedule: "30 2 * * *"}\n'
    )
    report = check_config(write(tmp_path, text), crm=None, now=paris(24, 12))

    assert format_report(report) == [
        "night  one_on_one_prep  Europe/Paris  "
        "next: Sun 25 Oct 02:30 CEST, Sun 25 Oct 02:30 CET, Mon 26 Oct 02:30 CET"
    ]


def test_a_disabled_ritual_is_shown_as_disabled(tmp_path: Path) -> None:
    text = 'rituals:\n  - {id: prep, kind: one_on_one_prep, schedule: "0 8 * * tue", enabled: false}\n'
    report = check_config(write(tmp_path, text), crm=None, now=NOW)

    assert report.summaries[0].next_firings == []
    assert format_report(report) == ["prep  one_on_one_prep  UTC  disabled"]


def test_the_products_example_checks_clean_against_the_demo_crm(sessions: Any, tmp_path: Path) -> None:
    with sessions.begin() as session:
        seed_demo_crm(session, NOW.astimezone(UTC))
    example = textwrap.dedent(
        """\
        timezone: Europe/Paris
        admins: [admin@acme.com]
        people:
          - crm_owner: "101"
            slack: U0ALICE
            manager: maxime@acme.com
        quiet_hours: {start: "19:00", end: "08:30"}
        rituals:
          - {id: stale-deals, kind: stale_deals, schedule: "0 9 * * mon-fri", pipelines: [default]}
          - id: weekly-digest
            kind: pipeline_digest
            schedule: "0 8 * * mon"
            channel: "#sales-weekly"
            filters: {pipelines: [default]}
          - id: deal-hygiene
            kind: hygiene
            schedule: "0 10 * * mon-fri"
            rules:
              - {check: close_date_past}
              - {check: missing, field: amount}
              - {check: missing, field: hs_next_step, stages: [presentationscheduled, contractsent]}
        """
    )
    report = check_config(write(tmp_path, example), crm=DemoCRM(sessions, clock=lambda: NOW), now=NOW)

    assert report.ok, report.problems
    assert report.warnings == []
    assert [s.ritual_id for s in report.summaries] == ["stale-deals", "weekly-digest", "deal-hygiene"]


# --- problems found in the CRM


def test_each_crm_problem_points_at_its_line(fake: FakeHubSpot, tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN)
    report = check_config(path, crm=fast_adapter(fake), now=NOW)

    assert not report.ok
    assert report.warnings == []
    assert report.summaries  # the file itself is valid
    f = str(path)
    assert format_report(report) == [
        f"{f}:5: people[1].crm_owner: no active CRM owner has the id '999'",
        f"{f}:7: people[2].crm_owner: no active CRM owner has the email brunno@acme.example "
        "(did you mean bruno@acme.example?)",
        f"{f}:11: deal_command.aliases.budget: unknown deal property 'budjet_code' "
        "(did you mean budget_code?)",
        f"{f}:19: rituals[stale-deals].pipelines[1]: unknown pipeline 'Renewal' (did you mean Renewals?); "
        "pipelines: Sales Pipeline (default), Renewals",
        f"{f}:24: rituals[weekly-digest].filters.pipelines[0]: unknown pipeline 'Enterprise'; "
        "pipelines: Sales Pipeline (default), Renewals",
        f"{f}:24: rituals[weekly-digest].filters.owners[1]: no active CRM owner has the id '103'",
        f"{f}:29: rituals[deal-hygiene].rules[0].stages[1]: unknown stage 'Contrat Sent' "
        "(did you mean Contract Sent?); stages by pipeline: Sales Pipeline: "
        "Appointment Scheduled (appointmentscheduled), Qualified To Buy (qualifiedtobuy), "
        "Presentation Scheduled (presentationscheduled), Decision Maker Bought-In (decisionmakerboughtin), "
        "Contract Sent (contractsent), Closed Won (closedwon), Closed Lost (closedlost); "
        "Renewals: Renewal due (renewal-due), Renewed (renewal-signed)",
    ]


def test_a_missing_rule_on_a_crm_label_names_the_fields_drumbeat_checks(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    text = (
        "rituals:\n"
        "  - id: hygiene\n"
        "    kind: hygiene\n"
        '    schedule: "0 10 * * *"\n'
        "    rules:\n"
        "      - check: missing\n"
        "        field: Champion\n"
    )
    path = write(tmp_path, text)
    report = check_config(path, crm=fast_adapter(fake), now=NOW)

    assert format_report(report) == [
        f"{path}:7: rituals[hygiene].rules[0].field: 'Champion' is not a field Drumbeat can check; "
        "it checks a missing amount, closedate, hs_next_step, hubspot_owner_id"
    ]


def test_schema_problems_come_first_and_alone(fake: FakeHubSpot, tmp_path: Path) -> None:
    path = write(tmp_path, BROKEN.replace('schedule: "0 8 * * mon"', 'schedule: "0 8 * * lundi"'))
    report = check_config(path, crm=fast_adapter(fake), now=NOW)

    assert [str(p) for p in report.problems] == [
        f"{path}:22: rituals[weekly-digest].schedule: 'lundi' is not a weekday name"
    ]
    assert report.summaries == []
    assert fake.request_count() == 0


# --- no CRM, or one that does not answer


def test_an_unreachable_crm_is_a_warning_and_the_schema_check_stands(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    fake.fail_next(10, status=503)
    report = check_config(
        write(tmp_path, BROKEN), crm=fast_adapter(fake, FakeTime(), max_attempts=2), now=NOW
    )

    assert report.ok
    assert report.warnings == [
        "stages, pipelines and fields were not checked: HubSpot is not answering: "
        "server error (503) after 2 attempts; try again later."
    ]
    assert [s.ritual_id for s in report.summaries] == ["stale-deals", "weekly-digest", "deal-hygiene"]
    assert fake.request_count() == 2  # gave up after the first kind of thing


def test_a_refused_token_is_a_warning_too(fake: FakeHubSpot, tmp_path: Path) -> None:
    fake.revoke_token()
    report = check_config(write(tmp_path, VALID), crm=fast_adapter(fake), now=NOW)

    assert report.ok
    assert len(report.warnings) == 1
    assert report.warnings[0].startswith("stages, pipelines and fields were not checked: HubSpot rejected")


def test_without_a_crm_only_the_schema_is_checked(tmp_path: Path) -> None:
    report = check_config(write(tmp_path, BROKEN), crm=None, now=NOW)

    assert report.ok
    assert report.warnings == ["stages, pipelines and fields were not checked: no CRM configured"]


def test_an_unreadable_file_is_a_problem(tmp_path: Path) -> None:
    report = check_config(tmp_path / "nope.yaml", crm=None, now=NOW)

    assert format_report(report) == [
        f"{tmp_path / 'nope.yaml'}:1: (file): cannot read the file: No such file or directory"
    ]


def test_now_must_be_aware(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        check_config(write(tmp_path, VALID), crm=None, now=datetime(2026, 10, 22, 12))


def test_report_ok_follows_problems() -> None:
    assert CheckReport(problems=[]).ok


# --- deal properties, from each CRM


def test_hubspot_deal_properties_include_custom_ones(fake: FakeHubSpot) -> None:
    properties = fast_adapter(fake).fetch_deal_properties()

    assert {"dealname", "dealstage", "amount", "hs_next_step", "budget_code"} <= properties
    (request,) = fake.requests
    assert request.path == "/crm/v3/properties/deals"
    assert [value.lower() for value in request.query["archived"]] == ["false"]


def test_the_fakes_property_list_has_hubspots_shape(fake: FakeHubSpot) -> None:
    # The SDK's own models accept it (they check the fields HubSpot always sends).
    response = HubSpot(access_token=fake.token, host=fake.url).crm.properties.core_api.get_all("deals")
    by_name = {p.name: p for p in response.results}
    assert by_name["amount"].type == "number"
    assert by_name["closedate"].type == "datetime"
    assert by_name["dealstage"].type == "enumeration"
    assert by_name["dealname"].label == "Deal Name"
    assert by_name["dealname"].hubspot_defined is True
    assert by_name["budget_code"].hubspot_defined is False
    assert by_name["budget_code"].group_name == "dealinformation"
    assert by_name["budget_code"].options == []
    assert by_name["budget_code"].archived is False


def test_deal_properties_need_either_the_deals_or_the_schemas_read_scope(fake: FakeHubSpot) -> None:
    fake.remove_scope(DEALS_READ)
    assert "amount" in fast_adapter(fake).fetch_deal_properties()

    fake.remove_scope(SCHEMAS_DEALS_READ)
    with pytest.raises(CrmAuthError, match=r"missing scope crm\.schemas\.deals\.read \(403\)"):
        fast_adapter(fake).fetch_deal_properties()


def test_the_demo_crm_has_a_fixed_set_of_deal_properties() -> None:
    crm = DemoCRM(sessions=None, clock=lambda: NOW)  # type: ignore[arg-type]  # no database needed

    properties = crm.fetch_deal_properties()

    assert properties == set(DEMO_DEAL_PROPERTIES)
    assert {"dealname", "dealstage", "pipeline", "amount", "closedate", "hs_next_step"} <= properties
    assert "budget_code" not in properties


def test_a_missing_rule_on_a_field_drumbeat_does_not_mirror_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'rituals:\n  - id: h\n    kind: hygiene\n    schedule: "0 9 * * *"\n'
        "    rules:\n      - {check: missing, field: hs_nextstep}\n",
    )
    report = check_config(path, crm=None, now=NOW)
    assert format_report(report) == [
        f"{path}:6: rituals[h].rules[0].field: 'hs_nextstep' is not a field Drumbeat can check "
        "(did you mean hs_next_step?); it checks a missing amount, closedate, hs_next_step, hubspot_owner_id"
    ]


TEAMS = """\
timezone: Europe/Paris
rituals:
  - id: emea-digest
    kind: pipeline_digest
    schedule: "0 8 * * mon"
    channel: "#sales-emea"
    filters: {teams: [emea, "Nordics"]}
"""


def test_digest_teams_are_checked_against_the_crm_owners_teams(
    fake_hubspot: FakeHubSpot, tmp_path: Path
) -> None:
    fake_hubspot.add_owner(
        "101", "alice@acme.example", "Alice", "Martin", teams=[{"id": "7", "name": "EMEA"}]
    )
    fake_hubspot.add_owner("102", "bruno@acme.example", "Bruno", "Costa", teams=[{"id": "8", "name": "DACH"}])
    path = write(tmp_path, TEAMS)
    report = check_config(path, crm=fast_adapter(fake_hubspot), now=NOW)
    assert format_report(report) == [
        f"{path}:7: rituals[emea-digest].filters.teams[1]: unknown team 'Nordics'; teams: DACH (8), EMEA (7)"
    ]


def test_digest_teams_on_a_portal_without_teams_say_why(fake_hubspot: FakeHubSpot, tmp_path: Path) -> None:
    fake_hubspot.add_owner("101", "alice@acme.example", "Alice", "Martin")
    report = check_config(write(tmp_path, TEAMS), crm=fast_adapter(fake_hubspot), now=NOW)
    assert not report.ok
    assert all("no CRM owner belongs to a team" in str(p) for p in report.problems)
    assert len(report.problems) == 2


def test_a_deal_alerts_stages_pipelines_and_owners_are_checked_against_the_crm(
    fake: FakeHubSpot, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        """\
rituals:
  - id: big-wins
    kind: deal_alert
    when: {stage_becomes: Closed Wonn, pipeline: default}
    post_to: "#wins"
  - id: renewals
    kind: deal_alert
    when: {stage_becomes: [Renewed, renewal-lost], pipeline: [Renewals]}
    post_to: manager
    filters: {owners: ["104"]}
""",
    )
    report = check_config(path, crm=fast_adapter(fake), now=NOW)
    lines = format_report(report)
    f = str(path)
    assert [line.split(" (did you mean")[0].split("; stages")[0] for line in lines] == [
        f"{f}:4: rituals[big-wins].when.stage_becomes: unknown stage 'Closed Wonn'",
        f"{f}:8: rituals[renewals].when.stage_becomes[1]: unknown stage 'renewal-lost'",
        f"{f}:10: rituals[renewals].filters.owners[0]: no active CRM owner has the id '104'",
    ]
    assert "(did you mean Closed Won?)" in lines[0]
