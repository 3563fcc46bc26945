"""Working out received `/deal` updates right after the ack, and answering through response_url."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from core.deals.commands import DealCommands
from core.models import ReceivedCommand
from core.queues.commands import CommandInbox, command_key
from core.queues.foreground import Foreground
from core.queues.polling import PollingThreads
from handlers.blocks import mrkdwn
from handlers.notify import post_reply
from handlers.replies import Reply, reply_to

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
GAVE_UP = "Sorry, Drumbeat could not work out that command, so nothing was changed. Please try again."


class CommandProcessor:
    """One thread by default: checking updates must not compete with acknowledgements for the CPU."""

    def __init__(
        self,
        inbox: CommandInbox,
        deals: DealCommands,
        client: WebClient,
        *,
        foreground: Foreground,
        threads: int = 1,
    ) -> None:
        self._foreground = foreground
        self._inbox = inbox
        self._deals = deals
        self._client = client
        self._threads = PollingThreads(self.run_once, name="commands", threads=threads, poll_interval=0.5)

    def start(self) -> None:
        self._threads.start()

    def wake(self) -> None:
        self._threads.wake()

    def stop(self) -> None:
        self._threads.stop()

    def run_once(self) -> int:
        handled = 0
        while not self._threads.stopping:
            commands = self._inbox.claim()
            if not commands:
                return handled
            for command in commands:
                self._foreground.yield_to_requests()
                self.process(command)
                handled += 1
        return handled

    def process(self, command: ReceivedCommand) -> None:
        try:
            outcome = self._deals.answer(
                command.slack_user, command.text, command.response_url, key=command_key(command.id)
            )
            reply = reply_to(outcome, self._deals)
        except Exception:  # a bug or a broken database: retry a few times, then say so
            log.exception("working out /deal command %s failed (attempt %d)", command.id, command.attempts)
            if command.attempts < MAX_ATTEMPTS:
                return  # the lease runs out and it is tried again
            log.error("gave up on /deal command %s after %d attempts", command.id, command.attempts)
            reply = Reply([mrkdwn(GAVE_UP)], GAVE_UP)
        try:
            post_reply(self._client, command.slack_user, command.response_url, reply.blocks)
        except (SlackApiError, SlackClientError, OSError) as exc:
            # The change (if any) is stored; answering is retried when the lease runs out.
            log.warning("could not answer /deal command %s: %s", command.id, type(exc).__name__)
            return
        self._inbox.done(command.id)
        if reply.accepted:
            self._deals.wake_worker()
