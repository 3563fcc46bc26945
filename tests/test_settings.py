"""Settings: defaults, the .env file, and one clear line (never a traceback, never a secret) when wrong."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.logs import configure_logging
from bot.settings import SettingsError, load_settings
from tests.cli import run_drumbeat


def test_defaults_follow_the_contract() -> None:
    settings = load_settings(env_file=None)
    assert settings.crm == "demo"
    assert settings.database_url == "sqlite:///drumbeat.db"
    assert settings.rituals_file == Path("rituals.yaml")
    assert settings.port == 3000
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.hubspot_api_url == "https://api.hubapi.com"
    assert settings.hubspot_requests_per_10s == 100
    assert settings.hubspot_budget_share == 0.8
    assert settings.hubspot_daily_floor == 0.1
    assert settings.hubspot_requests_budget_per_10s == 80


def test_a_hubspot_token_selects_hubspot_unless_crm_says_otherwise() -> None:
    assert load_settings(env_file=None, hubspot_access_token="pat-1").crm == "hubspot"
    assert load_settings(env_file=None, hubspot_access_token="pat-1", CRM="demo").crm == "demo"


def test_values_are_read_from_a_dotenv_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=8123\nHUBSPOT_REQUESTS_PER_10S=190\nCRM=demo\n")
    settings = load_settings(env_file=str(env_file))
    assert settings.port == 8123
    assert settings.hubspot_requests_budget_per_10s == 152


def test_tokens_never_print() -> None:
    settings = load_settings(
        env_file=None, slack_bot_token="xoxb-very-secret", hubspot_access_token="pat-secret"
    )
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings.model_dump())
    assert "pat-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "eighty", "PORT is invalid"),
        ("HUBSPOT_BUDGET_SHARE", "1.5", "HUBSPOT_BUDGET_SHARE is invalid"),
        ("HUBSPOT_DAILY_FLOOR", "1.5", "HUBSPOT_DAILY_FLOOR is invalid"),
        ("CRM", "salesforce", "CRM is invalid: Input should be 'hubspot' or 'demo'"),
        (
            "SLACK_BOT_TOKEN",
            "xoxp-user-token-secret",
            "SLACK_BOT_TOKEN is invalid: must be a bot token starting with xoxb-",
        ),
        ("LOG_FORMAT", "xml", "LOG_FORMAT is invalid"),
    ],
)
def test_a_malformed_setting_is_one_line_naming_it(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    result = run_drumbeat(
        "migrate", env={name: value, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert expected in lines[0]
    assert (
        value not in result.stderr or value in expected
    )  # the bad value itself is not echoed (may be a secret)


def test_serve_without_slack_credentials_says_which_and_where(tmp_path: Path) -> None:
    result = run_drumbeat("serve", env={"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-...) from your Slack app's "
        "OAuth & Permissions page, in the environment or .env."
    )


def test_hubspot_crm_without_a_token_is_a_clear_error(tmp_path: Path) -> None:
    env = {"CRM": "hubspot", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    assert run_drumbeat("migrate", env=env, cwd=tmp_path).returncode == 0
    result = run_drumbeat("sync", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "HUBSPOT_ACCESS_TOKEN is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_require_helpers_raise_settings_errors() -> None:
    settings = load_settings(env_file=None, slack_bot_token="xoxb-1")
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET is not set"):
        settings.require_slack()
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN is not set"):
        settings.require_app_token()


def test_log_lines_never_contain_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(
        env_file=None, slack_bot_token="xoxb-leak-me-not", hubspot_access_token="pat-na-na"
    )
    configure_logging("json", settings.secrets())
    logging.getLogger("drumbeat.test").warning(
        "calling with token %s and %s", "xoxb-leak-me-not", "pat-na-na"
    )
    err = capsys.readouterr().err
    assert "leak-me-not" not in err
    assert "pat-na-na" not in err
    assert '"message": "calling with token *** and ***"' in err
