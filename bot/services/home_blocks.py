"""The App Home tab's Block Kit, built from rows already read: a pure function, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock

from bot.lifecycle.home import HomeRows
from bot.lifecycle.render import end_now_confirm
from bot.slack.blocks import (
    DESTRUCTIVE,
    ActionId,
    actions,
    button,
    context,
    home_row_block,
    home_view,
    object_value,
    section,
)


def home_tab(rows: Sequence[HomeRows], owns_a_workspace: bool, now: datetime) -> dict[str, object]:
    """The views.publish payload of the Home tab."""
    return home_view(home_blocks(rows, owns_a_workspace, now))


def home_blocks(rows: Sequence[HomeRows], owns_a_workspace: bool, now: datetime) -> list[Block]:
    """Each workflow's list of mine, then what waits for my approval (at most 100 blocks)."""
    out: list[Block] = []
    for part in rows:
        src = part.source
        out.append(HeaderBlock(text=src.title))
        for obj in part.mine:
            actionable = obj.state == src.actionable
            buttons = (("Extend", ActionId.EXTEND), src.end) if actionable else None
            out += _row(src.line(obj, now), src.workflow.kind, obj.id, buttons, obj.label)
        if not part.mine:
            out.append(context(src.empty))
        out.append(DividerBlock())
    out.append(HeaderBlock(text="Waiting for my approval"))
    decide = (("Approve", ActionId.APPROVE), ("Deny", ActionId.DENY))
    for part in rows:
        for obj in part.waiting:
            out += _row(
                part.source.waiting_line(obj, now),
                part.source.workflow.kind,
                obj.id,
                decide,
                obj.label,
            )
    if not any(part.waiting for part in rows):
        out.append(
            context(
                "Nothing waits for you."
                if owns_a_workspace
                else "You own no workspace, so nothing waits for your approval."
            )
        )
    return out[:100]


def _row(
    text: str,
    kind: str,
    oid: str,
    buttons: tuple[tuple[str, ActionId], tuple[str, ActionId]] | None,
    label: str,
) -> list[Block]:
    """One list entry: its line, and (when it can be acted on) a primary and a danger button."""
    row: list[Block] = [section(text)]
    if buttons is not None:
        (first, first_id), (second, second_id) = buttons
        value = object_value(kind, oid)
        row.append(
            actions(
                home_row_block(oid),
                [
                    button(first, first_id, value, style="primary"),
                    button(
                        second,
                        second_id,
                        value,
                        style="danger",
                        confirm=end_now_confirm(second, label)
                        if second_id in DESTRUCTIVE
                        else None,
                    ),
                ],
            )
        )
    return row
