"""The Slack app manifest shipped inside the package: the bot scopes it asks for, and the text with
a public URL filled in (`drumbeat manifest --url`). Package data, so an installed wheel has it too."""

from __future__ import annotations

import re
import urllib.parse
from importlib import resources

import yaml

__all__ = ["PLACEHOLDER_URL", "ManifestError", "manifest_text", "manifest_with_url", "required_bot_scopes"]

MANIFEST_FILE = "slack-app-manifest.yaml"
PLACEHOLDER_URL = "https://drumbeat.example.com"
_EVENTS_PATH = "/slack/events"


class ManifestError(ValueError):
    """A public URL the manifest cannot use; the message says why."""


def manifest_text() -> str:
    return resources.files("bot").joinpath(MANIFEST_FILE).read_text(encoding="utf-8")


def required_bot_scopes() -> list[str]:
    """The bot token scopes the manifest asks for, in its order."""
    data = yaml.safe_load(manifest_text())
    return [str(scope) for scope in data["oauth_config"]["scopes"]["bot"]]


def public_base_url(url: str) -> str:
    """`url` checked and normalised: https, a host, no query; a pasted `/slack/events` is dropped."""
    url = url.strip()
    if not url or any(ch.isspace() for ch in url):
        raise ManifestError(f"{url!r} is not a URL: give the public https:// address of `drumbeat serve`")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https":
        raise ManifestError(f"{url} is not https: Slack only sends requests to https:// URLs")
    try:
        port = parts.port
    except ValueError:
        raise ManifestError(f"{url} has an invalid port") from None
    host = parts.hostname or ""
    if not re.fullmatch(r"[A-Za-z0-9.-]+", host) or "." not in host.strip("."):
        raise ManifestError(f"{url} has no valid public host name (e.g. https://drumbeat.acme.com)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ManifestError(f"{url} must not carry a query, fragment or credentials")
    path = parts.path.rstrip("/")
    path = path.removesuffix(_EVENTS_PATH)
    netloc = host if port is None else f"{host}:{port}"
    return f"https://{netloc}{path}"


def manifest_with_url(url: str) -> str:
    """The manifest with every request URL pointing at `url`, ready to paste into Slack."""
    base = public_base_url(url)
    lines = manifest_text().splitlines()
    body = [line for line in lines if not line.startswith("#")]  # the header says to replace by hand
    header = [
        f"# Drumbeat's Slack app manifest for {base}",
        "# Paste it at https://api.slack.com/apps -> Create New App -> From a manifest",
        "# (or an existing app's App Manifest page).",
    ]
    return "\n".join([*header, *body]).replace(PLACEHOLDER_URL, base) + "\n"
