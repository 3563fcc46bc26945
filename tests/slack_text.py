"""Reading Slack messages as a person would: the text of their blocks, and a channel's own posts."""

from __future__ import annotations

from typing import Any

from tests.fakes.slack import FakeSlack


def texts(value: Any) -> list[str]:
    """Every piece of text a person would read in a message's blocks, in order."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                found.append(item)
            else:
                found.extend(texts(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(texts(item))
    return found


def readable(message: dict[str, Any]) -> str:
    """The notification text and the blocks' text of one Slack message."""
    return "\n".join([str(message.get("text", "")), *texts(message.get("blocks", []))])


def top_level(slack: FakeSlack, channel: str) -> list[dict[str, Any]]:
    """The channel's own messages (thread replies left out)."""
    return [m for m in slack.messages_in(channel) if m.get("thread_ts") in (None, m.get("ts"))]


def thread_of(slack: FakeSlack, channel: str, ts: str) -> list[dict[str, Any]]:
    return [m for m in slack.messages_in(channel) if m.get("thread_ts") == ts and m.get("ts") != ts]
