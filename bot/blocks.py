"""Pure Block Kit builders and the action ids that builders and handlers share.

This is the only place a block is written. Builders use `slack_sdk.models.blocks`, whose
`to_dict()` checks Slack's limits, and every text is cut to fit before it gets there.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

Message = dict[str, Any]  # {"text": fallback, "blocks": [...]}
SECTION_LIMIT = 3000
TRUNCATED = "… (truncated)"


class ActionId(StrEnum):
    """Every button's action_id; handlers register on these."""

    APPROVE = "approve"
    DENY = "deny"
    CANCEL = "cancel"
    RETRY = "retry"
    EXTEND = "extend"
    DELETE_NOW = "delete_now"
    REVOKE_NOW = "revoke_now"
    KEEP = "keep"
    CONFIRM_DELETE = "confirm_delete"


def truncate(text: str, limit: int = SECTION_LIMIT) -> str:
    """Cut `text` to `limit` characters, saying so."""
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED


def message(text: str, blocks: Sequence[Block] = ()) -> Message:
    """A message with a notification fallback `text` and optional blocks."""
    out: Message = {"text": truncate(text, 3000)}
    if blocks:
        out["blocks"] = [b.to_dict() for b in blocks]
    return out


def section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text)))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(text, 2000))])


def button(label: str, action: ActionId, value: str, *, style: str | None = None) -> ButtonElement:
    return ButtonElement(text=label[:75], action_id=action.value, value=value[:2000], style=style)


def actions(block_id: str, buttons: Sequence[ButtonElement]) -> ActionsBlock:
    return ActionsBlock(block_id=block_id, elements=list(buttons))


def text_message(text: str) -> Message:
    """A plain answer, as one section so long text is cut cleanly."""
    return message(text, [section(text)])


def lines_message(title: str, lines: Sequence[str], footer: str = "") -> Message:
    """A title and a list, split across sections so no section passes Slack's limit."""
    blocks: list[Block] = [section(f"*{title}*")]
    chunk: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > SECTION_LIMIT and chunk:
            blocks.append(section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        blocks.append(section("\n".join(chunk)))
    if footer:
        blocks.append(context(footer))
    fallback = "\n".join([title, *lines])
    return message(fallback, blocks[:50])
