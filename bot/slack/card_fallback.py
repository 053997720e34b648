"""A card the bot cannot post in its channel goes to the requester as a DM, saying why.

Slack answers `not_in_channel` (a public channel nobody invited the bot to) or
`channel_not_found` (a private one it cannot see). The card row is turned into a DM with a
first line naming the channel and the fix; the drain then records the DM as the card, so later
updates re-render the DM and the card's thread replies follow it there.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import OutboxMessage
from bot.slack.notify import CARD

UNPOSTABLE = frozenset({"not_in_channel", "channel_not_found"})


def applies(row: OutboxMessage, error: str) -> bool:
    """Whether this failed row is a card with a requester to fall back to."""
    return (
        row.kind == "post"
        and row.purpose == CARD
        and not row.thread_purpose
        and bool(row.user_id)
        and error in UNPOSTABLE
    )


def channel_ref(channel: str) -> str:
    """`#name` as given, or a `<#C…>` link Slack shows as the channel's name."""
    return channel if channel.startswith("#") else f"<#{channel}>"


def why(channel: str) -> str:
    """The first line of the DM: where the card should have gone and what to do."""
    return (
        f":warning: I could not post in {channel_ref(channel)}: invite me with "
        "`/invite @envbot` there. This card and its thread are here instead."
    )


def dm_payload(row: OutboxMessage) -> dict[str, Any]:
    """The card's payload with the reason in front (text and blocks)."""
    return _with_note(dict(row.payload), why(row.channel))


def keep_note(
    sessions: sessionmaker[Session], update: OutboxMessage, payload: dict[str, Any]
) -> dict[str, Any]:
    """An update of a card that fell back to a DM, with the reason still in front."""
    key = f"card:{update.object_type}:{update.object_id}"
    with sessions() as s:
        card = s.scalars(select(OutboxMessage).where(OutboxMessage.key == key)).first()
    if card is None or card.kind != "dm" or not card.channel:
        return payload
    return _with_note(payload, why(card.channel))


def _with_note(payload: dict[str, Any], note: str) -> dict[str, Any]:
    payload["text"] = f"{note}\n{payload.get('text', '')}"[:3000]
    blocks = list(payload.get("blocks") or [])
    if blocks:
        note_block = {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}
        payload["blocks"] = [note_block, *blocks][:50]
    return payload
