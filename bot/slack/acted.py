"""What a one-shot message (a reminder DM, `/env delete`'s confirmation) becomes once a button on
it was pressed, and the answer to a later press: pure Block Kit builders, no I/O.

The message keeps everything it said (the expiry time stays in view), loses its buttons, and
gains one line saying what happened, by whom, and when, in each reader's own time zone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.slack.blocks import TRUNCATED, ActionId, Message, text_message

# The button a press was on, as the "already done" answer names it.
LABELS = {
    ActionId.EXTEND.value: "Extend",
    ActionId.DELETE_NOW.value: "Delete now",
    ActionId.REVOKE_NOW.value: "Revoke now",
    ActionId.KEEP.value: "Keep as is",
}


def slack_time(at: datetime) -> str:
    """A `<!date>` token: each reader sees their own time; the fallback is UTC."""
    epoch = int(at.timestamp())
    fallback = f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|{fallback}>"


def answer_text(answer: Mapping[str, Any]) -> str:
    """The plain text of a use case's answer (its fallback text)."""
    return str(answer.get("text") or "Done.")


def acted_message(
    original: Sequence[Mapping[str, Any]] | None,
    answer: Mapping[str, Any],
    user_id: str,
    at: datetime,
) -> Message:
    """The message as it reads after the press: its blocks without their buttons, then what
    happened. `original` is None when Slack does not send the message (an ephemeral one)."""
    did = f"{answer_text(answer)} (<@{user_id}>, {slack_time(at)})"
    kept = [dict(b) for b in original or () if b.get("type") != "actions"]
    line = {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(did, 2000)}]}
    fallback = next((str(b["text"]["text"]) for b in kept if isinstance(b.get("text"), dict)), "")
    text = f"{fallback}\n{did}" if fallback else did
    return {"text": _cut(text, 3000), "blocks": [*kept, line][:50], "replace_original": True}


def already_done(pressed_action: str, user_id: str, at: datetime) -> Message:
    """The answer to a press on a message whose buttons were already used."""
    label = LABELS.get(pressed_action, pressed_action)
    who = f"<@{user_id}>" if user_id else "someone"
    on = f" ({label})" if label else ""
    return text_message(
        f"Already done by {who} at {slack_time(at)}{on}; this message's buttons act once. "
        "Your Home tab shows where things stand."
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED
