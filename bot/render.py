"""Block Kit as readable terminal text, for `drumbeat demo` and `--dry-run`."""

from __future__ import annotations

import re
from typing import Any

_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_BARE_LINK = re.compile(r"<(https?://[^>]+)>")
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")


def mrkdwn_to_text(value: str) -> str:
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
