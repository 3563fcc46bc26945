"""Leased queues in the database: one implementation (`leased`) and its uses, CRM updates
(`outbox`), received `/deal` commands (`commands`), ritual DMs (`dms`) and deal alert posts
(`alert_posts`); plus `Foreground`, which
lets background work step aside while Slack requests are answered."""

from core.queues.alert_posts import AlertPostQueue, alert_post_worker
from core.queues.commands import Answering, CommandInbox, command_key, command_worker
from core.queues.dms import DMQueue, dm_worker
from core.queues.foreground import Foreground
from core.queues.leased import LeasedQueue, QueueSpec, QueueWorker
from core.queues.outbox import ChangeRequest, Notice, Notifier, Outbox, enqueue, outbox_worker

__all__ = [
    "AlertPostQueue",
    "Answering",
    "ChangeRequest",
    "CommandInbox",
    "DMQueue",
    "Foreground",
    "LeasedQueue",
    "Notice",
    "Notifier",
    "Outbox",
    "QueueSpec",
    "QueueWorker",
    "alert_post_worker",
    "command_key",
    "command_worker",
    "dm_worker",
    "enqueue",
    "outbox_worker",
]
