"""Block Kit as readable terminal text, for `drumbeat demo` and `--dry-run`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from core.i18n import ENGLISH, Translator

if TYPE_CHECKING:
    from rituals.alerts import AlertReport
    from rituals.posts import SlackMessage
from rituals.engine import RunReport

_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_BARE_LINK = re.compile(r"<(https?://[^>]+)>")
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_GROUP_MENTION = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|([^>]+))?>")


def mrkdwn_to_text(value: str) -> str:
    value = _GROUP_MENTION.sub(lambda m: m.group(2) or f"@group {m.group(1)}", value)
    value = "\n".join(line for line in value.split("\n") if line.strip() != "```")  # code fences
    value = _LINK.sub(r"\2", value)
    value = _BARE_LINK.sub(r"\1", value)
    value = _BOLD.sub(r"\1", value)
    value = _ITALIC.sub(r"\1", value)
    return value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def blocks_to_text(blocks: list[dict[str, Any]], *, t: Translator = ENGLISH) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(mrkdwn_to_text(block["text"]["text"]).upper())
        elif kind == "section":
            if "text" in block:
                lines.append(mrkdwn_to_text(block["text"]["text"]))
            for item in block.get("fields", []):
                label, _, value = mrkdwn_to_text(item["text"]).partition("\n")
                lines.append("  " + t._("{label}: {value}", label=label, value=value))
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "static_select":
                lines.extend(f"  ( ) {o['text']['text']}" for o in accessory.get("options", []))
            elif accessory and accessory.get("type") == "button":
                lines.append(f"  [{accessory['text']['text']}]")
        elif kind == "actions":
            lines.append("  " + " ".join(_element(e, t) for e in block["elements"]))
        elif kind == "context":
            lines.append("  " + " ".join(mrkdwn_to_text(e.get("text", "")) for e in block["elements"]))
        elif kind == "divider":
            lines.append("  " + "─" * 40)
    return "\n".join(lines)


def _element(element: dict[str, Any], t: Translator) -> str:
    if "text" in element:
        return f"[{element['text']['text']}]"
    placeholder = (element.get("placeholder") or {}).get("text") or t._("Choose")
    return f"[{placeholder} ▾]"


def show_posts(console: Console, report: RunReport, chart_dir: Path | None, *, t: Translator) -> list[Path]:
    """A ritual's channel posts as terminal panels (thread replies after their message); each chart
    is written to `chart_dir` (when given) and its path returned."""
    written: list[Path] = []
    for planned in report.posts:
        post = planned.post
        console.print(
            Panel(
                Text(blocks_to_text(post.message.blocks, t=t)),
                title=Text(t._("Post to {channel}", channel=planned.channel)),
                title_align="left",
            )
        )
        _show_thread(console, post.thread, t)
        if post.chart is not None and chart_dir is not None:
            path = chart_dir / post.chart.filename
            path.write_bytes(post.chart.png)
            written.append(path)
            console.print(Text(t._("Chart “{title}” written to {path}", title=post.chart.title, path=path)))
            console.print(Text(t._("  alt text: {alt_text}", alt_text=post.chart.alt_text), style="dim"))
    return written


def _show_thread(console: Console, thread: Sequence[SlackMessage], t: Translator) -> None:
    for index, reply in enumerate(thread, start=1):
        title = Text(t._("Thread reply {index} of {count}", index=index, count=len(thread)))
        console.print(Panel(Text(blocks_to_text(reply.blocks, t=t)), title=title, title_align="left"))


def show_dms(console: Console, report: RunReport, *, t: Translator) -> None:
    for dm in report.dms:
        if dm.send_after <= report.scheduled_for:
            title = t._("DM to {person} ({slack_user}), now", person=dm.person, slack_user=dm.slack_user)
        else:
            title = t._(
                "DM to {person} ({slack_user}), on {day} at {time} UTC",
                person=dm.person,
                slack_user=dm.slack_user,
                day=t.day(dm.send_after),
                time=t.clock(dm.send_after),
            )
        console.print(Panel(Text(blocks_to_text(dm.blocks, t=t)), title=Text(title), title_align="left"))


def show_alerts(console: Console, report: AlertReport, *, t: Translator) -> None:
    """Deal alerts as terminal panels: to a channel or as a DM, each thread reply after its post."""
    for alert in report.planned:
        if alert.is_dm:
            title = t._("DM to {target} (deal alert {ritual})", target=alert.target, ritual=alert.ritual_id)
        else:
            title = t._("Post to {target} (deal alert {ritual})", target=alert.target, ritual=alert.ritual_id)
        blocks = blocks_to_text(alert.post.message.blocks, t=t)
        console.print(Panel(Text(blocks), title=Text(title), title_align="left"))
        _show_thread(console, alert.post.thread, t)
