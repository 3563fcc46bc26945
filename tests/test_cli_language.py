"""The command line speaks French or English: from LC_ALL / LC_MESSAGES / LANG, or `--language`."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.demo.rituals import demo_config, demo_people
from core.i18n import translator
from integrations.demo import DemoCRM
from integrations.demo_seed import REPS, seed_demo_crm
from rituals.check import check_config, format_report
from tests.cli import run_drumbeat
from tests.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.deal_scenario import seed
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.slack import FakeSlack
from tests.test_init import _env as _init_env, _workspace
from tests.test_rituals_engine import TUESDAY_9
from tests.test_run_command import _env as _run_env
from tests.test_status import RITUALS as STATUS_RITUALS

NBSP, NNBSP = "\u00a0", "\u202f"
FRENCH = {"LANG": "fr_FR.UTF-8"}
BROKEN = """\
timezone: Europe/Pari
rituals:
  - id: stale-deals
    kind: stale_deals
    schedule: "0 9 * * mon-fry"
    stale_after_days: lots
    snooze_dayz: [3]
  - id: digest
    kind: pipeline_digest
    schedule: "0 8 * * mon"
    channel: sales-weekly
"""
VALID = """\
timezone: Europe/Paris
rituals:
  - id: stale-deals
    kind: stale_deals
    schedule: "0 9 * * mon-fri"
  - id: prep
    kind: one_on_one_prep
    schedule: "0 8 * * tue"
    enabled: false
"""


def _check(tmp_path: Path, text: str, *args: str, env: dict[str, str] | None = None) -> Any:
    rituals = tmp_path / "rituals.yaml"
    rituals.write_text(text, encoding="utf-8")
    # The demo CRM's database does not exist: the file's schema is checked, not the CRM.
    settings = {"CRM": "demo", "DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    return run_drumbeat("check-config", "rituals.yaml", *args, env={**settings, **(env or {})}, cwd=tmp_path)


def test_check_config_says_each_problem_in_french_with_a_french_lang(tmp_path: Path) -> None:
    result = _check(tmp_path, BROKEN, env=FRENCH)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"rituals.yaml:1: timezone: fuseau horaire inconnu (tu voulais dire Europe/Paris{NBSP}?)",
        f"rituals.yaml:5: rituals[stale-deals].schedule: 'fry' n’est pas un nom de jour "  # noqa: RUF001
        f"(tu voulais dire fri{NBSP}?)",
        "rituals.yaml:6: rituals[stale-deals].stale_after_days: doit être un nombre entier",
        "rituals.yaml:7: rituals[stale-deals].snooze_dayz: clé inconnue "
        f"(tu voulais dire snooze_days{NBSP}?)",
        "rituals.yaml:11: rituals[digest].channel: doit être un nom de canal commençant par # ou un "
        f"identifiant de canal (C… ou G…) (tu voulais dire #sales-weekly{NBSP}?)",
    ]
    assert "Traceback" not in result.stderr


def test_check_config_stays_in_english_otherwise(tmp_path: Path) -> None:
    english = _check(tmp_path, BROKEN)
    assert english.returncode == 1
    assert english.stderr.splitlines() == [
        "rituals.yaml:1: timezone: unknown time zone (did you mean Europe/Paris?)",
        "rituals.yaml:5: rituals[stale-deals].schedule: 'fry' is not a weekday name (did you mean fri?)",
        "rituals.yaml:6: rituals[stale-deals].stale_after_days: must be a whole number",
        "rituals.yaml:7: rituals[stale-deals].snooze_dayz: unknown key (did you mean snooze_days?)",
        "rituals.yaml:11: rituals[digest].channel: must be a channel name starting with # or a channel id "
        "(C… or G…) (did you mean #sales-weekly?)",
    ]
    # LC_ALL wins over LANG, as in gettext; --language wins over both, before or after the command.
    assert _check(tmp_path, BROKEN, env={**FRENCH, "LC_ALL": "en_US.UTF-8"}).stderr == english.stderr
    assert _check(tmp_path, BROKEN, "--language", "en", env=FRENCH).stderr == english.stderr
    rituals = tmp_path / "rituals.yaml"
    before = run_drumbeat(
        "--language", "fr", "check-config", str(rituals), env={"CRM": "demo", "DATABASE_URL": "sqlite://"}
    )
    assert "fuseau horaire inconnu" in before.stderr


def test_a_valid_file_lists_its_rituals_in_french(tmp_path: Path) -> None:
    result = _check(tmp_path, VALID, "--now", "2026-11-23T12:00:00+01:00", env=FRENCH)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"stale-deals  stale_deals      Europe/Paris  prochains{NBSP}: "
        "mar. 24 nov. 09:00, mer. 25 nov. 09:00, jeu. 26 nov. 09:00",
        "prep         one_on_one_prep  Europe/Paris  désactivé",
    ]


def test_an_unknown_stage_reads_in_french_against_the_crm(sessions: Any, tmp_path: Path) -> None:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    with sessions.begin() as session:
        seed_demo_crm(session, now)
    rituals = tmp_path / "rituals.yaml"
    rituals.write_text(
        VALID.replace(
            '    schedule: "0 9 * * mon-fri"\n',
            '    schedule: "0 9 * * mon-fri"\n    pipelines: [Sales, Renewal]\n',
            1,
        )
    )
    report = check_config(rituals, crm=DemoCRM(sessions, clock=lambda: now), now=now)
    (line,) = format_report(report, t=translator("fr"))
    assert line.startswith(
        f"{rituals}:6: rituals[stale-deals].pipelines[1]: pipeline 'Renewal' inconnu "
        f"(tu voulais dire Renewals{NBSP}?){NBSP}; pipelines{NBSP}: "
    )
    (english,) = format_report(report)
    assert "unknown pipeline 'Renewal' (did you mean Renewals?); pipelines: " in english


def test_status_and_migrate_in_french(tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack) -> None:
    rituals = tmp_path / "rituals.yaml"
    rituals.write_text(STATUS_RITUALS)
    env = {
        "DATABASE_URL": sqlite_url,
        "CRM": "demo",
        "RITUALS_FILE": str(rituals),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        **FRENCH,
    }
    too_early = run_drumbeat("status", env=env, cwd=tmp_path)
    assert too_early.returncode == 1
    assert too_early.stderr.startswith(f"erreur{NBSP}: La base de données (")
    assert re.search(f"est vide, pas à la dernière révision \\d+{NBSP}: lance d’abord", too_early.stderr)  # noqa: RUF001
    migrated = run_drumbeat("migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.startswith("Base ") and " migrée de vide à " in migrated.stdout

    status = run_drumbeat("status", "--now", "2026-11-30T12:00:00+01:00", env=env, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    out = status.stdout
    assert "Rituels" in out
    assert "Prochain passage" in out and "Dernier passage" in out
    assert "lun. 7 déc. 08:00 CET" in out
    assert "jamais lancé" in out and "désactivé" in out
    assert f"Mises à jour du CRM (outbox){NBSP}: 0 en attente" in out
    assert f"Copie locale{NBSP}: 0 affaire, dernière synchronisation jamais" in out
    assert f"Le CRM de démo{NBSP}: ok" in out
    assert f"Slack{NBSP}: ok" in out

    english = run_drumbeat("status", "--now", "2026-11-30T12:00:00+01:00", "--language", "en", env=env)
    assert "CRM updates (outbox): 0 waiting" in english.stdout
    assert "The demo CRM: ok" in english.stdout


def test_an_error_of_the_command_line_in_french(tmp_path: Path) -> None:
    result = run_drumbeat("run", "stale-deals", env={**FRENCH, "DATABASE_URL": "sqlite://"}, cwd=tmp_path)
    assert result.returncode == 2  # settings: no Slack app configured (settings messages stay English)
    unknown = run_drumbeat("demo", "--language", "de", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "'de' is not one of 'en', 'fr'" in unknown.stderr.replace("\n", " ").replace("│", "")


def test_demo_in_french_shows_french_headings_and_french_numbers(tmp_path: Path) -> None:
    result = run_drumbeat("demo", "--language", "fr", "--now", "2026-11-23T09:00:00Z", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    panel = re.sub(r"[ \n│]+", " ", out)  # the panels' text, unwrapped (no-break spaces kept)
    team = f"Démo de Drumbeat{NBSP}: l’équipe commerciale d’Acme (5 commerciaux et leur manager Maxime)"  # noqa: RUF001
    assert team in panel
    assert "Rien n’a été envoyé nulle part." in panel  # noqa: RUF001
    assert "Pipeline Sales — affaires ouvertes" in out
    assert "Ce qui mérite un coup d’œil, par commercial" in out  # noqa: RUF001
    assert f"1{NNBSP}451{NNBSP}000{NBSP}€" in out  # the Sales pipeline's open total
    assert f"Rituel{NBSP}: stale-deals (ce que chaque commercial recevrait en DM)" in out
    assert "DM à Alice" in out
    assert f"Rituel{NBSP}: weekly-digest (publié dans #sales-weekly avant la réunion du lundi)" in out
    assert "Message dans #sales-weekly" in out
    assert "Alertes d’affaires" in out  # noqa: RUF001
    assert f"Mises à jour express depuis Slack{NBSP}: /deal" in out
    assert "Ensuite, pour de vrai" in out
    # Every ritual the demo shows speaks French: nudges, hygiene, digest, 1:1 prep, adoption, alerts, /deal.
    for french in (
        "Salut Alice",
        "Toujours d’actualité",  # noqa: RUF001
        "quelques détails à régler",
        "POINT PIPELINE",
        "PRÉPARATION DU 1:1",
        "Questions à poser",
        "ADOPTION — SEMAINE DU",
        "est gagnée",
        "Tes affaires ouvertes",
        "montant=12,5k clôture=fdm",  # the demo's rep types French
        "✅ Enregistré dans le CRM de démo",
        f"12{NNBSP}500{NBSP}€",
        f"stale-deals{NBSP}: enverrait un DM à 5 personnes.",
        f"weekly-digest{NBSP}: publierait dans #sales-weekly.",
    ):
        assert french in panel, french
    for english in (
        "What needs a look",
        "Nothing was sent anywhere",
        "Ritual: ",
        "Quick updates from Slack",
        "Still on track",
        "would DM",
        "would post",
        "Pipeline digest",
        "Your open deals",
        "Questions to ask",
    ):
        assert english not in panel, english
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_demo_world_speaks_the_demo_language(sessions: Any, language: Any) -> None:
    """Every renderer reads its reader's language: the demo's people and channels carry the demo's."""
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert demo_config(language).language == language
    people = demo_people(sessions, now, language)
    assert people.default_language == language
    assert {people.actor(rep.slack_id).language for rep in REPS} == {language}


def test_init_in_french(tmp_path: Path, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot) -> None:
    _workspace(fake_hubspot, fake_slack)
    env = {**_init_env(tmp_path, fake_slack, fake_hubspot), **FRENCH}
    result = run_drumbeat("init", "--yes", "--admin", "ops@acme.example", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Lecture de HubSpot et de Slack…" in out
    assert f"HubSpot{NBSP}: 1 pipeline, 7 étapes, 5 responsables actifs." in out
    assert f"Slack{NBSP}: 3 sur 5 retrouvés par e-mail, " in out
    assert f"rituals.yaml écrit{NBSP}:" in out
    assert f"retrouvés{NBSP}: 3{NBSP}; 2 mis en commentaire, qui ne recevront rien" in out
    assert "Vérification de rituals.yaml (comme le fait `drumbeat check-config`)" in out
    assert "prochains" in out
    assert "# les relances que recevrait chaque commercial" in out
    again = run_drumbeat("init", "--yes", env=env, cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.startswith(f"erreur{NBSP}: rituals.yaml existe déjà, et init n’écrase jamais")  # noqa: RUF001


def test_a_dry_run_is_framed_in_french(
    tmp_path: Path, sqlite_url: str, fake_slack: FakeSlack, fake_hubspot: FakeHubSpot
) -> None:
    seed(fake_hubspot, fake_slack, now=TUESDAY_9)
    env = {**_run_env(tmp_path, sqlite_url, fake_slack, fake_hubspot), **FRENCH}
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    dry = run_drumbeat("run", "stale-deals", "--now", "2026-11-24T09:00:00+01:00", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "DM à Alice (U0ALICE), maintenant" in dry.stdout
    unknown = run_drumbeat("run", "stale-deal", env=env, cwd=tmp_path)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith(
        f"erreur{NBSP}: aucun rituel 'stale-deal' (tu voulais dire stale-deals{NBSP}?){NBSP}; connus{NBSP}: "
    )
