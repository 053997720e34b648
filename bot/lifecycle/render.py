"""Block Kit the kernel offers every workflow: pure builders, no I/O and no state decisions."""

from __future__ import annotations

import math
from datetime import timedelta

from slack_sdk.models.blocks import Block, ConfirmObject

from bot.domain.durations import format_duration
from bot.slack.blocks import (
    ActionId,
    CallbackId,
    Message,
    actions,
    button,
    confirm_dialog,
    input_text,
    message,
    modal,
    object_value,
    section,
)

REMINDER_BLOCK = "reminder_actions"


def end_now_confirm(end_label: str, label: str) -> ConfirmObject:
    """The confirm dialog of a button that ends something now ("Delete now", "Revoke now")."""
    return confirm_dialog(
        f"{end_label}?",
        f"{label} ends now instead of at its expiry. This cannot be undone.",
        end_label.removesuffix(" now"),
        "Keep it",
    )


def reminder_message(
    text: str, kind: str, oid: str, label: str, step: timedelta, end: tuple[str, ActionId]
) -> Message:
    """The reminder DM: the text, then Extend <step> / <end now> (confirmed) / Keep as is."""
    end_label, end_action = end
    value = object_value(kind, oid)
    return message(
        text,
        [
            section(text),
            actions(
                REMINDER_BLOCK,
                [
                    button(
                        f"Extend {format_duration(step)}", ActionId.EXTEND, value, style="primary"
                    ),
                    button(
                        end_label,
                        end_action,
                        value,
                        style="danger",
                        confirm=end_now_confirm(end_label, label),
                    ),
                    button("Keep as is", ActionId.KEEP, value),
                ],
            ),
        ],
    )


def kept_answer() -> Message:
    """Keep as is on a reminder: nothing changes; the reminder keeps its time, without buttons."""
    return {"text": "Kept as is; it ends at the time above, as planned."}


def deny_modal(kind: str, oid: str) -> dict[str, object]:
    """Deny asks for an optional reason; the form remembers the object as a button would."""
    return modal(
        CallbackId.DENY_REASON,
        "Deny request",
        [input_text("reason", "Reason (optional)", optional=True, multiline=True)],
        submit="Deny",
        private_metadata=object_value(kind, oid),
    )


def time_left(delta: timedelta) -> str:
    """Time left, rounded up to the minute and in hours under two days: `24h`, `1h`, `13h 5m`."""
    minutes = max(0, math.ceil(delta.total_seconds() / 60))
    hours, mins = divmod(minutes, 60)
    if hours >= 48:
        return format_duration(timedelta(minutes=minutes))
    if hours and mins:
        return f"{hours}h {mins}m"
    return f"{hours}h" if hours else f"{mins}m"


def decision_actions(block_id: str, value: str) -> Block:
    """The Approve / Deny / Cancel row every pending card carries."""
    return actions(
        block_id,
        [
            button("Approve", ActionId.APPROVE, value, style="primary"),
            button("Deny", ActionId.DENY, value, style="danger"),
            button("Cancel", ActionId.CANCEL, value),
        ],
    )
