"""DM copies of an approval card (`notify: dm | both`, escalation DMs), kept in step with the
channel card: each copy is the same card, rendered for its recipient, and every re-render of
the card queues an update of each copy through the outbox.

Who got a copy is recorded in the object's `approval` column (`dms`) in the transaction that
queues the DM; the drain records each DM's channel (`D…`) and ts in `slack_messages` under the
purpose `dm:<user id>` when it sends it, and an update names that purpose, so only messages
envbot posted for this object are ever updated (never found by searching text).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.db.models import Tracked
from bot.lifecycle.approval_view import ApprovalState
from bot.slack.blocks import ActionId, Message
from bot.slack.notify import Notifier, dm_purpose


def recipients(obj: Tracked) -> tuple[str, ...]:
    """Who got a DM copy of the object's card."""
    state = ApprovalState.of(obj.approval)
    return state.dms if state is not None else ()


def allowed(raw: dict[str, Any] | None, viewer: str) -> frozenset[str]:
    """The buttons `viewer` may press on their copy: Approve (not twice) and Deny while they
    may decide; never Cancel (the requester's, who is never sent a copy), nor the buttons of
    later steps (those are on the channel card)."""
    state = ApprovalState.of(raw)
    if state is None or viewer not in state.eligible:
        return frozenset()
    if viewer in state.voters:
        return frozenset({ActionId.DENY})
    return frozenset({ActionId.APPROVE, ActionId.DENY})


def for_viewer(card: Message, raw: dict[str, Any] | None, viewer: str) -> Message:
    """`card` (the channel card's render) as `viewer`'s copy shows it: only the buttons they
    may press; an actions row left empty is dropped (Slack refuses an empty one)."""
    keep = allowed(raw, viewer)
    blocks: list[dict[str, Any]] = []
    for block in card.get("blocks", []):
        if block.get("type") == "actions":
            elements = [e for e in block.get("elements", []) if e.get("action_id") in keep]
            if not elements:
                continue
            block = {**block, "elements": elements}
        blocks.append(block)
    out = dict(card)
    if "blocks" in card:
        out["blocks"] = blocks
    return out


def send(
    notifier: Notifier,
    s: Session,
    ref: tuple[str, str],
    obj: Tracked,
    card: Message,
    user_id: str,
    key: str,
    now: datetime,
) -> bool:
    """DM `user_id` their copy of `card` once, and record them as a recipient.

    Returns:
        False when they already have a copy (nothing was queued).
    """
    state = ApprovalState.of(obj.approval)
    if state is None or user_id in state.dms:
        return False
    obj.approval = state.to_json() | {"dms": [*state.dms, user_id]}
    notifier.dm(
        s,
        now=now,
        user_id=user_id,
        key=key,
        message=for_viewer(card, obj.approval, user_id),
        obj=ref,
        purpose=dm_purpose(user_id),
    )
    return True


def refresh(
    notifier: Notifier,
    s: Session,
    ref: tuple[str, str],
    obj: Tracked,
    card: Message,
    version: int,
    now: datetime,
) -> None:
    """Queue the update of every DM copy to `card` (after the channel card's own update,
    which dropped their older unsent updates)."""
    for user_id in recipients(obj):
        notifier.update_copy(
            s,
            now=now,
            obj=ref,
            version=version,
            purpose=dm_purpose(user_id),
            message=for_viewer(card, obj.approval, user_id),
        )
