"""What a ritual hands the Slack side to post: messages as Block Kit dicts, a thread, a chart."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # matplotlib is imported only when a chart is drawn
    from rituals.charts import Chart

__all__ = ["ChannelPost", "SlackMessage"]


@dataclass(frozen=True, slots=True)
class SlackMessage:
    text: str
    """The notification and fallback text."""
    blocks: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ChannelPost:
    """One report in a channel: the message, replies in its thread (what did not fit), a chart."""

    message: SlackMessage
    thread: list[SlackMessage] = field(default_factory=list)
    chart: Chart | None = None
