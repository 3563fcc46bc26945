"""What working out a received `/deal` update means in Slack: answer it, and reply through response_url.

The queue and its worker loop live in `core.queues.commands`; this is the rendering glue it is handed.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from core.deals.commands import DealCommands
from core.i18n import N_
from core.models import ReceivedCommand
from core.queues.commands import Answering, command_key
from handlers.blocks import mrkdwn
from handlers.notify import post_reply
from handlers.replies import Reply, reply_to

log = logging.getLogger(__name__)

GAVE_UP = N_("Sorry, Drumbeat could not work out that command, so nothing was changed. Please try again.")


def slack_answering(deals: DealCommands, client: WebClient) -> Answering[Reply]:
    def work_out(command: ReceivedCommand) -> Reply:
        outcome = deals.answer(
            command.slack_user, command.text, command.response_url, key=command_key(command.id)
        )
        return reply_to(outcome, deals, t=deals.reader(command.slack_user))

    def send(command: ReceivedCommand, reply: Reply) -> bool:
        try:
            post_reply(client, command.slack_user, command.response_url, reply.blocks)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not answer /deal command %s: %s", command.id, type(exc).__name__)
            return False
        return True

    def gave_up(command: ReceivedCommand) -> Reply:
        said = deals.reader(command.slack_user)._(GAVE_UP)
        return Reply([mrkdwn(said)], said)

    return Answering(work_out, gave_up, send)
