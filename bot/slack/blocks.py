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
    ConfirmObject,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

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
    REVIEWED = "reviewed"


# Buttons that end something at once; each must carry a Slack `confirm` dialog.
DESTRUCTIVE = frozenset({ActionId.DELETE_NOW, ActionId.REVOKE_NOW})

# A button's value names the object it acts on as `<kind>:<id>` (`env:e7k2qm`), and a Home tab
# row's block is `home_<id>`; the press handler checks both against the stored object.
VALUE_SEPARATOR = ":"
HOME_ROW_PREFIX = "home_"


def object_value(kind: str, object_id: str) -> str:
    """The value of a button that acts on one object: its workflow kind and its id."""
    return f"{kind}{VALUE_SEPARATOR}{object_id}"


def home_row_block(object_id: str) -> str:
    """The block_id of one object's row on the Home tab."""
    return f"{HOME_ROW_PREFIX}{object_id}"


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


def confirm_dialog(title: str, text: str, confirm: str, deny: str = "Cancel") -> ConfirmObject:
    """Slack's confirm dialog (title 100, text 300, buttons 30 characters), red confirm."""
    return ConfirmObject(
        title=title[:100],
        text=PlainTextObject(text=truncate(text, 300)),
        confirm=confirm[:30],
        deny=deny[:30],
        style="danger",
    )


def button(
    label: str,
    action: ActionId,
    value: str,
    *,
    style: str | None = None,
    confirm: ConfirmObject | None = None,
) -> ButtonElement:
    """A button; one that ends something at once (`DESTRUCTIVE`) must bring its `confirm`.

    Raises:
        ValueError: a destructive button without a confirm dialog (a programming error).
    """
    if action in DESTRUCTIVE and confirm is None:
        raise ValueError(f"the {action.value} button needs a confirm dialog")
    return ButtonElement(
        text=label[:75], action_id=action.value, value=value[:2000], style=style, confirm=confirm
    )


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


class CallbackId(StrEnum):
    """Every modal's callback_id; view handlers register on these."""

    ACCESS_REQUEST = "access_request"
    DENY_REASON = "deny_reason"
    BREAK_GLASS = "break_glass"


def input_select(
    block_id: str, label: str, options: Sequence[str], *, initial: str = ""
) -> InputBlock:
    """A required static select; `block_id` doubles as the field name."""
    choices = [Option(text=o, value=o) for o in options[:100]]
    chosen = next((c for c in choices if c.value == initial), None)
    element = StaticSelectElement(
        action_id=block_id,
        options=choices,
        initial_option=chosen,
        placeholder=f"Choose a {block_id}",
    )
    return InputBlock(block_id=block_id, label=label, element=element)


def input_text(
    block_id: str,
    label: str,
    *,
    initial: str = "",
    optional: bool = False,
    multiline: bool = False,
) -> InputBlock:
    """A plain text input; `block_id` doubles as the field name."""
    element = PlainTextInputElement(
        action_id=block_id, initial_value=initial or None, multiline=multiline
    )
    return InputBlock(block_id=block_id, label=label, element=element, optional=optional)


def modal(
    callback_id: CallbackId,
    title: str,
    blocks: Sequence[Block],
    *,
    submit: str,
    private_metadata: str = "",
) -> dict[str, object]:
    """A modal view payload for views.open."""
    view = View(
        type="modal",
        callback_id=callback_id.value,
        title=title[:24],
        submit=submit[:24],
        close="Cancel",
        blocks=list(blocks),
        private_metadata=private_metadata,
    )
    out: dict[str, object] = view.to_dict()
    return out


def home_view(blocks: Sequence[Block]) -> dict[str, object]:
    """An App Home tab payload for views.publish."""
    out: dict[str, object] = View(type="home", blocks=list(blocks)[:100]).to_dict()
    return out
