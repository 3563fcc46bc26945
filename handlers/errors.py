"""The last line of defence: an exception in a listener is logged (scrubbed) and never shown raw."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltResponse

log = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on Drumbeat's side and nothing was changed. Please try again."


def register(app: App) -> None:
    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        kind = body.get("type") or body.get("command") or "request"
        log.error("listener failed on %s: %s", kind, type(error).__name__, exc_info=error)
        if body.get("command"):
            # Slack shows a slash command's response body to the person who typed it.
            return BoltResponse(status=200, body=APOLOGY)
        return BoltResponse(status=500, body="")
