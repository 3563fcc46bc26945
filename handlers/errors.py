"""The last line of defence: an exception in a listener is logged (scrubbed) and never shown raw.

Input a listener cannot use (`BadInput`) and a database that cannot be reached are expected, not
bugs: one log line each, no traceback. Anything else is a bug, logged with its traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltResponse
from sqlalchemy.exc import InterfaceError, OperationalError

log = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on Drumbeat's side and nothing was changed. Please try again."
DATABASE_DOWN = "Drumbeat can't reach its database right now; nothing was changed, try again in a minute."


class BadInput(ValueError):
    """A signed request whose content a listener cannot use (a snooze choice that is not a number)."""


def register(app: App) -> None:
    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        kind = body.get("type") or body.get("command") or "request"
        if isinstance(error, BadInput):
            log.warning("refused a malformed Slack %s: %s", kind, error)
            return BoltResponse(status=400, body="")
        if isinstance(error, (OperationalError, InterfaceError)):  # unreachable, not a bad query
            log.error("database unreachable while answering a %s (%s)", kind, type(error.orig).__name__)
            if body.get("command"):
                return BoltResponse(status=200, body=DATABASE_DOWN)
            return BoltResponse(status=503, body=DATABASE_DOWN)
        log.error("listener failed on %s: %s", kind, type(error).__name__, exc_info=error)
        if body.get("command"):
            # Slack shows a slash command's response body to the person who typed it.
            return BoltResponse(status=200, body=APOLOGY)
        return BoltResponse(status=500, body="")
