"""Settings read from the environment or `.env` (pydantic-settings).

Nothing here runs at import time: call `load_settings()` where settings are needed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

CrmName = Literal["hubspot", "demo"]


class SettingsError(Exception):
    """A missing or malformed setting; the message names the variable and what to do."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    hubspot_access_token: SecretStr | None = None
    # Client secret of the HubSpot app sending deal webhooks; unset, POST /hubspot/webhooks does not exist.
    hubspot_webhook_secret: SecretStr | None = None
    hubspot_api_url: str = "https://api.hubapi.com"
    crm_choice: CrmName | None = Field(default=None, alias="CRM")
    database_url: str = "sqlite:///drumbeat.db"
    rituals_file: Path = Path("rituals.yaml")
    port: int = Field(default=3000, ge=1, le=65535)
    hubspot_requests_per_10s: int = Field(default=100, ge=1, le=10_000)
    hubspot_budget_share: float = Field(default=0.8, gt=0, le=1)
    # Under this share of the portal's daily allowance left, background syncs pause.
    hubspot_daily_floor: float = Field(default=0.1, ge=0, lt=1)
    # How long pipeline snapshots are kept (digests and 1:1 prep compare against them).
    history_retention_weeks: int = Field(default=26, ge=1, le=520)
    log_format: Literal["json", "text"] | None = None

    @field_validator("crm_choice", "log_format", mode="before")
    @classmethod
    def _lowercase(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip().lower()
            return value or None
        return value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("slack_api_url", "hubspot_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("hubspot_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def crm(self) -> CrmName:
        if self.crm_choice is not None:
            return self.crm_choice
        return "hubspot" if self.hubspot_access_token is not None else "demo"

    @property
    def hubspot_requests_budget_per_10s(self) -> int:
        """Requests per 10 s Drumbeat allows itself, leaving the rest to other integrations."""
        return max(1, int(self.hubspot_requests_per_10s * self.hubspot_budget_share))

    def effective_log_format(self) -> Literal["json", "text"]:
        if self.log_format is not None:
            return self.log_format
        return "text" if sys.stderr.isatty() else "json"

    def secrets(self) -> list[str]:
        """Every secret value, so log output can be scrubbed of them."""
        values = [self.slack_bot_token, self.slack_signing_secret, self.slack_app_token]
        values.extend([self.hubspot_access_token, self.hubspot_webhook_secret])
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]

    # Requirements per command: each raises SettingsError with what to do.

    def webhook_secret(self) -> str | None:
        """HUBSPOT_WEBHOOK_SECRET, or None when unset or blank (webhooks off)."""
        value = self.hubspot_webhook_secret
        secret = value.get_secret_value().strip() if value is not None else ""
        return secret or None

    def require_slack(self) -> tuple[str, str]:
        token = _require(
            self.slack_bot_token,
            "SLACK_BOT_TOKEN",
            "copy the Bot User OAuth Token (xoxb-...) from your Slack app's OAuth & Permissions page",
        )
        secret = _require(
            self.slack_signing_secret,
            "SLACK_SIGNING_SECRET",
            "copy the Signing Secret from your Slack app's Basic Information page",
        )
        return token, secret

    def require_app_token(self) -> str:
        return _require(
            self.slack_app_token,
            "SLACK_APP_TOKEN",
            "create an app-level token (xapp-...) with connections:write under Basic Information",
        )

    def require_hubspot_token(self) -> str:
        return _require(
            self.hubspot_access_token,
            "HUBSPOT_ACCESS_TOKEN",
            "create a HubSpot private app (see README) and set its access token, or set CRM=demo",
        )


def _require(value: SecretStr | None, name: str, how: str) -> str:
    if value is None or not value.get_secret_value().strip():
        raise SettingsError(f"{name} is not set: {how}, in the environment or .env.")
    return value.get_secret_value()


_ENV_NAMES = {"crm_choice": "CRM"}


def load_settings(env_file: str | None = ".env", **overrides: object) -> Settings:
    """Read settings; a bad value becomes a SettingsError naming the variable (never its value)."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg, arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            name = _ENV_NAMES.get(field, field.upper())
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{name} is invalid: {message}; fix it in the environment or .env.")
        raise SettingsError("\n".join(lines)) from None
