"""Block Kit the kernel offers every workflow: pure builders, no I/O and no state decisions."""

from __future__ import annotations

import math
from datetime import timedelta

from bot.domain.durations import format_duration
from bot.slack.blocks import ActionId, Message, actions, button, message, section

REMINDER_BLOCK = "reminder_actions"


def reminder_message(
    text: str, oid: str, step: timedelta, end_label: str, end: ActionId
) -> Message:
    """The reminder DM: the text, then Extend <step> / <end now> / Keep as is."""
    return message(
        text,
        [
            section(text),
            actions(
                REMINDER_BLOCK,
                [
                    button(
                        f"Extend {format_duration(step)}", ActionId.EXTEND, oid, style="primary"
                    ),
                    button(end_label, end, oid, style="danger"),
                    button("Keep as is", ActionId.KEEP, oid),
                ],
            ),
        ],
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
