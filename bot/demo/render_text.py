"""Turns what the fake Slack delivered into the demo's plain-text lines."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bot.demo.fake_slack_store import Delivery, DeliveryKind

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_SUBTEAM = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|[^>]*)?>")  # a user group mention
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")  # Slack's date token: its fallback
_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]+))?>")


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        return str(obj.get("text", ""))
    return ""


def blocks_text(blocks: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The lines of text and the button labels (`[Approve]`) of a message's blocks."""
    lines: list[str] = []
    buttons: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            lines.append(_text_of(block.get("text")))
            lines.extend(_text_of(f) for f in block.get("fields", []))
        elif kind == "context":
            lines.append(" ".join(_text_of(e) for e in block.get("elements", [])))
        elif kind == "input":
            element = block.get("element", {})
            initial = element.get("initial_value") or (element.get("initial_option") or {}).get(
                "value", ""
            )
            lines.append(
                f"{block.get('block_id')}: {_text_of(block.get('label'))}"
                + (f" [{initial}]" if initial else "")
            )
        elif kind == "actions":
            buttons.extend(
                f"[{_text_of(e.get('text'))}]"
                for e in block.get("elements", [])
                if e.get("type") == "button"
            )
    return [line for line in lines if line], buttons


def render_delivery(
    d: Delivery, name: Callable[[str], str], group: Callable[[str], str] = str
) -> str:
    """One delivery as the demo prints it; thread replies are indented under their card.
    `name` gives a user's name by id, `group` a user group's handle by id."""
    lines, buttons = blocks_text(d.blocks) if d.blocks else ([d.text], [])
    if d.kind == DeliveryKind.MODAL:
        lines = [d.text, *lines]
    body = "\n".join(lines)
    body = _MENTION.sub(lambda m: "@" + name(m.group(1)), body)
    body = _SUBTEAM.sub(lambda m: "@" + group(m.group(1)), body)
    body = _LINK.sub(lambda m: m.group(2) or m.group(1), body)
    body = _DATE.sub(r"\1", body)
    body = _BOLD.sub(r"\1", body)
    if buttons:
        body += "\n" + " ".join(buttons)
    where = d.where + (" (updated)" if d.kind == DeliveryKind.UPDATE else "")
    indent = "    " if d.where == "thread" else ""
    first, *rest = body.split("\n") if body else [""]
    out = [f"{indent}{where}: {first}"]
    out.extend(f"{indent}  {line}" for line in rest)
    return "\n".join(out)
