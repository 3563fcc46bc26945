"""The rituals part of `drumbeat demo`: the example rituals file run on the demo CRM, DMs shown as text."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.text import Text
from sqlalchemy.orm import Session, sessionmaker

from bot.demo.render import blocks_to_text, show_alerts, show_posts
from bot.slack_app import report_renderers
from core.deals.desk import DealDesk
from core.i18n import N_, Language, Translator
from core.people import PeopleDirectory, PersonLink, SlackProfile
from handlers.alerts import SlackAlerts
from handlers.nudges import render_nudge
from integrations.demo import DemoCRM
from integrations.demo_seed import MANAGER, PEOPLE, REPS
from rituals.alerts import DealAlerts
from rituals.config import RitualsConfig, parse_rituals_text
from rituals.engine import RitualEngine

_PEOPLE = "\n".join(
    f'  - {{crm_owner: "{r.owner_id}", slack: {r.slack_id}, manager: {MANAGER.email}}}' for r in REPS
)
DEMO_RITUALS = f"""
timezone: Europe/Paris
language: {{language}}
admins: [{MANAGER.email}]
people:
{_PEOPLE}
quiet_hours: {{start: "19:00", end: "08:30"}}
rituals:
  - id: stale-deals
    kind: stale_deals
    schedule: "0 9 * * mon-fri"
    stale_after_days: 14
    max_per_message: 10
    snooze_days: [3, 7, 14]
  - id: deal-hygiene
    kind: hygiene
    schedule: "0 10 * * mon-fri"
    rules:
      - {{check: close_date_past}}
      - {{check: missing, field: amount}}
      - {{check: missing, field: hs_next_step, stages: [presentationscheduled, contractsent]}}
  - id: weekly-digest
    kind: pipeline_digest
    schedule: "0 8 * * mon"
    channel: "#sales-weekly"
    compare_days: 7
    mention: "@sales-team"
  - id: one-on-one
    kind: one_on_one_prep
    schedule: "0 8 * * tue"
  - id: adoption
    kind: adoption_report
    schedule: "0 16 * * fri"
    channel: "#sales-managers"
    threshold: 0.6
  - id: big-wins
    kind: deal_alert
    when: {{stage_becomes: closedwon, amount_at_least: 20000}}
    post_to: "#wins"
    mention_owner: true
  - id: slipped
    kind: deal_alert
    when: {{close_date_pushed_by_days: 14}}
    post_to: owner
  - id: new-deals
    kind: deal_alert
    when: {{created: true}}
    post_to: manager
"""


# The demo team's Slack locales: a French team reads French, an English one English.
DEMO_LOCALES: dict[Language, str] = {"en": "en-GB", "fr": "fr-FR"}


def demo_config(language: Language) -> RitualsConfig:
    return parse_rituals_text(DEMO_RITUALS.replace("{language}", language), filename="demo rituals")


def demo_profiles(language: Language) -> dict[str, SlackProfile]:
    """The demo people as Slack would describe them, each with the demo language's locale."""
    locale = DEMO_LOCALES[language]
    return {
        p.slack_id: SlackProfile(p.slack_id, p.email, f"{p.first_name} {p.last_name}", "Europe/Paris", locale)
        for p in PEOPLE
    }


def demo_people(
    sessions: sessionmaker[Session], now: datetime, language: Language, *, read_only: bool = True
) -> PeopleDirectory:
    profiles = demo_profiles(language)
    by_email = {p.email: profiles[p.slack_id] for p in PEOPLE}
    return PeopleDirectory(
        sessions,
        profiles.get,
        lookup_email=by_email.get,
        links=[PersonLink(r.owner_id, r.slack_id, MANAGER.slack_id) for r in REPS],
        default_tz="Europe/Paris",
        default_language=language,
        clock=lambda: now,
        read_only=read_only,
    )


def show_rituals(
    console: Console,
    sessions: sessionmaker[Session],
    crm: DemoCRM,
    now: datetime,
    *,
    chart_dir: Path,
    t: Translator,
) -> None:
    config = demo_config(t.language)
    desk = DealDesk(sessions, deal_url=crm.deal_url, clock=lambda: now)
    engine = RitualEngine(
        sessions=sessions,
        crm=crm,
        desk=desk,
        people=demo_people(sessions, now, t.language),
        config=lambda: config,
        render=render_nudge,
        clock=lambda: now,
        instance="demo",
        reports=report_renderers(None),
        crm_label=t._(DEMO_CRM),
    )
    for ritual_id, what in RITUALS_SHOWN:
        console.rule(t._("[bold]Ritual: {ritual}[/bold] ({what})", ritual=ritual_id, what=t._(what)))
        report = engine.run(ritual_id, dry_run=True, refresh=False)
        for dm in report.dms[:2]:
            title = Text(t._("DM to {person}", person=dm.person))
            console.print(Panel(Text(blocks_to_text(dm.blocks, t=t)), title=title, title_align="left"))
        if len(report.dms) > 2:
            more = len(report.dms) - 2
            console.print(t.n_("…and {n} more DM like these.", "…and {n} more DMs like these.", more))
        show_posts(console, report, chart_dir, t=t)
        console.print(report.summary(t), highlight=False)


def show_alerts_of_the_week(
    console: Console, sessions: sessionmaker[Session], crm: DemoCRM, now: datetime, *, t: Translator
) -> None:
    """The deal alerts the seeded week's changes would have posted (as if they were looked at a
    week ago, then after the sync that found the changes)."""
    config = demo_config(t.language)
    alerts = DealAlerts(
        sessions,
        config=lambda: config,
        people=demo_people(sessions, now, t.language),
        render=SlackAlerts(),
        deal_url=crm.deal_url,
        clock=lambda: now,
    )
    console.rule(t._("[bold]Deal alerts[/bold] (posted within a minute of each change; here, the week's)"))
    report = alerts.evaluate(dry_run=True, since=now - timedelta(days=7))
    show_alerts(console, report, t=t)
    console.print(report.summary(t), highlight=False)


DEMO_CRM = N_("the demo CRM")
RITUALS_SHOWN = (
    ("stale-deals", N_("what each rep would get as a DM")),
    ("deal-hygiene", N_("what each rep would get as a DM")),
    ("weekly-digest", N_("posted in #sales-weekly before Monday's meeting")),
    ("one-on-one", N_("a DM to the manager for each direct report")),
    ("adoption", N_("posted in #sales-managers on Friday afternoon")),
)
