"""Block Kit as readable terminal text, for `drumbeat demo` and `--dry-run`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

if TYPE_CHECKING:
    from rituals.alerts import AlertReport
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


def blocks_to_text(blocks: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(mrkdwn_to_text(block["text"]["text"]).upper())
        elif kind == "section":
            if "text" in block:
                lines.append(mrkdwn_to_text(block["text"]["text"]))
            for item in block.get("fields", []):
                lines.append("  " + mrkdwn_to_text(item["text"]).replace("\n", ": ", 1))
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "static_select":
                lines.extend(f"  ( ) {o['text']['text']}" for o in accessory.get("options", []))
            elif accessory and accessory.get("type") == "button":
                lines.append(f"  [{accessory['text']['text']}]")
        elif kind == "actions":
            lines.append("  " + " ".join(_element(e) for e in block["elements"]))
        elif kind == "context":
            lines.append("  " + " ".join(mrkdwn_to_text(e.get("text", "")) for e in block["elements"]))
        elif kind == "divider":
            lines.append("  " + "─" * 40)
    return "\n".join(lines)


def _element(element: dict[str, Any]) -> str:
    if "text" in element:
        return f"[{element['text']['text']}]"
    placeholder = (element.get("placeholder") or {}).get("text", "Choose")
    return f"[{placeholder} ▾]"


def show_posts(console: Console, report: RunReport, chart_dir: Path | None) -> list[Path]:
    """A ritual's channel posts as terminal panels (thread replies after their message); each chart
    is written to `chart_dir` (when given) and its path returned."""
    written: list[Path] = []
    for planned in report.posts:
        post = planned.post
        console.print(
            Panel(
                Text(blocks_to_text(post.message.blocks)),
                title=Text(f"Post to {planned.channel}"),
                title_align="left",
            )
        )
        for index, reply in enumerate(post.thread, start=1):
            title = Text(f"Thread reply {index} of {len(post.thread)}")
            console.print(Panel(Text(blocks_to_text(reply.blocks)), title=title, title_align="left"))
        if post.chart is not None and chart_dir is not None:
            path = chart_dir / post.chart.filename
            path.write_bytes(post.chart.png)
            written.append(path)
            console.print(Text(f"Chart “{post.chart.title}” written to {path}"))
            console.print(Text(f"  alt text: {post.chart.alt_text}", style="dim"))
    return written


def show_dms(console: Console, report: RunReport) -> None:
    for dm in report.dms:
        when = "now" if dm.send_after <= report.scheduled_for else f"at {dm.send_after:%Y-%m-%d %H:%M} UTC"
        title = Text(f"DM to {dm.person} ({dm.slack_user}), {when}")
        console.print(Panel(Text(blocks_to_text(dm.blocks)), title=title, title_align="left"))


def show_alerts(console: Console, report: AlertReport) -> None:
    """Deal alerts as terminal panels: to a channel or as a DM, each thread reply after its post."""
    for alert in report.planned:
        where = f"DM to {alert.target}" if alert.is_dm else f"Post to {alert.target}"
        title = Text(f"{where} (deal alert {alert.ritual_id})")
        console.print(Panel(Text(blocks_to_text(alert.post.message.blocks)), title=title, title_align="left"))
        for index, reply in enumerate(alert.post.thread, start=1):
            title = Text(f"Thread reply {index} of {len(alert.post.thread)}")
            console.print(Panel(Text(blocks_to_text(reply.blocks)), title=title, title_align="left"))
