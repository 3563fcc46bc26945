"""The last line of defence: an exception in a listener is logged (scrubbed) and never shown raw.

A database that cannot be reached and a Slack or
`response_url` out of reach are expected, not bugs: one log line each, no traceback. Anything
else is a bug, logged with its traceback.
"""

from __future__ import annotations

import logging
import os
import traceback
from pathlib import Path
from typing import Any

from slack_bolt import App, BoltResponse
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from core.deals.commands import DealCommands
from core.i18n import N_, Translator, translator

log = logging.getLogger(__name__)

APOLOGY = N_("Sorry, something went wrong on Drumbeat's side and nothing was changed. Please try again.")
DATABASE_DOWN = N_("Drumbeat can't reach its database right now; nothing was changed, try again in a minute.")


_OUR_CODE = tuple(
    str(Path(__file__).resolve().parent.parent / package) + os.sep
    for package in ("bot", "handlers", "rituals", "core", "integrations")
)


def _raised_by_drumbeat(error: BaseException) -> bool:
    """Whether any frame of the error's traceback is Drumbeat's: a bug of ours, not a bad request."""
    return any(
        frame.f_code.co_filename.startswith(_OUR_CODE) for frame, _ in traceback.walk_tb(error.__traceback__)
    )


def _reader(deals: DealCommands, body: dict[str, Any]) -> Translator:
    """The language of whoever sent the request; the file's when even that cannot be read (the
    database down, say): an apology must not fail in turn."""
    user = body.get("user_id") or (body.get("user") or {}).get("id")
    if isinstance(user, str) and user:
        try:
            return deals.reader(user)
        except SQLAlchemyError:
            pass
    return translator(deals.people.default_language)


def register(app: App, deals: DealCommands) -> None:
    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
        kind = body.get("type") or body.get("command") or "request"
        if isinstance(error, (OperationalError, InterfaceError)):  # unreachable, not a bad query
            log.error("database unreachable while answering a %s (%s)", kind, type(error.orig).__name__)
            down = _reader(deals, body)._(DATABASE_DOWN)
            if body.get("command"):
                return BoltResponse(status=200, body=down)
            return BoltResponse(status=503, body=down)
        if isinstance(error, OSError):  # Slack or a response_url out of reach: a fault, not a bug
            log.warning("could not answer a %s: %s: %s", kind, type(error).__name__, error)
            if body.get("command"):
                return BoltResponse(status=200, body=_reader(deals, body)._(APOLOGY))
            return BoltResponse(status=503)
        if not _raised_by_drumbeat(error):  # Bolt itself could not read this (signed) request
            log.warning("refused a %s Bolt could not read: %s: %s", kind, type(error).__name__, error)
            return BoltResponse(status=400, body="")
        log.error("listener failed on %s: %s", kind, type(error).__name__, exc_info=error)
        if body.get("command"):
            # Slack shows a slash command's response body to the person who typed it.
            return BoltResponse(status=200, body=_reader(deals, body)._(APOLOGY))
        return BoltResponse(status=500, body="")
