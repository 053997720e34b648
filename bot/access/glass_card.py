"""The loud card of a break-glass grant: who, which role, why, until when, and its review
(a Reviewed button for the owners until one of them has reviewed it)."""

from __future__ import annotations

from datetime import datetime, timedelta

from slack_sdk.models.blocks import Block

from bot.access import KIND
from bot.db.models import AccessRequest
from bot.domain.durations import format_duration
from bot.slack.acted import slack_time
from bot.slack.blocks import (
    ActionId,
    Message,
    actions,
    button,
    context,
    message,
    object_value,
    section,
)

REVIEW_BLOCK = "review_actions"
HEADER = ":rotating_light: break-glass"


def glass_card(req: AccessRequest, now: datetime, state: str) -> Message:
    """The card, rendered from the row: the grant, then its review state."""
    duration = format_duration(timedelta(seconds=req.duration_s))
    expiry = (
        f"Expiry: {slack_time(req.expires_at)}"
        if req.expires_at is not None
        else f"Expiry: {duration} after it is applied"
    )
    lines = [
        f"*{HEADER}* `{req.id}`: <@{req.requester_id}> granted themselves *{req.role}* in "
        f"workspace *{req.workspace}* for {duration}, without approval",
        f"Reason: {req.reason}",
        f"State: *{state}*. {expiry}",
    ]
    blocks: list[Block] = [section("\n".join(lines))]
    if req.reviewed_by:
        when = f" at {slack_time(req.reviewed_at)}" if req.reviewed_at else ""
        blocks.append(context(f"Reviewed by <@{req.reviewed_by}>{when}"))
    else:
        due = f" by {slack_time(req.review_due_at)}" if req.review_due_at else ""
        overdue = req.review_due_at is not None and req.review_due_at <= now
        blocks.append(
            context(
                f"Not reviewed yet{' and overdue' if overdue else ''}: an owner of "
                f"{req.workspace} (not <@{req.requester_id}>) must review it{due}"
            )
        )
        value = object_value(KIND, req.id)
        blocks.append(
            actions(REVIEW_BLOCK, [button("Reviewed", ActionId.REVIEWED, value, style="primary")])
        )
    return message(f"{HEADER} {req.id}: {req.role} in {req.workspace} ({state})", blocks)
