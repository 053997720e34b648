"""Finding a button a demo user can see, and the `block_actions` payload Slack sends for a click."""

from __future__ import annotations

from typing import Any

from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_store import Message

Found = tuple[Message, str, dict[str, Any]]


def find_button(slack: FakeSlack, user: str, label: str, ref: str = "") -> Found | None:
    """The newest button visible to `user` whose label starts with `label` (any case), on a
    message that mentions `ref` when given: (message, block_id, element)."""
    label = label.lower()
    for msg in reversed(slack.visible_messages(user)):
        if ref and ref not in str(msg.blocks) and ref not in msg.text:
            continue
        for block in reversed(msg.blocks):
            if block.get("type") != "actions":
                continue
            for element in block.get("elements", []):
                text = str(element.get("text", {}).get("text", "")).lower()
                if element.get("type") == "button" and text.startswith(label):
                    return msg, str(block.get("block_id", "")), element
    return None


def click_payload(
    slack: FakeSlack, user: str, found: Found, action_ts: str, team_id: str = "T0ENVBOT"
) -> dict[str, Any]:
    """The interaction payload of `user` clicking the found button, with a fresh trigger_id and
    a response_url for that message, as Slack mints them per click."""
    msg, block_id, element = found
    return {
        "type": "block_actions",
        "team": {"id": team_id},
        "user": {"id": user, "name": slack.user(user).name},
        "api_app_id": "A0ENVBOT",
        "trigger_id": slack.new_trigger_id(user),
        "container": {"type": "message", "message_ts": msg.ts, "channel_id": msg.channel},
        "channel": {"id": msg.channel},
        "message": msg.to_api(),
        "response_url": slack.new_response_url(msg.channel, user, msg.ts),
        "actions": [
            {
                "type": "button",
                "action_id": element["action_id"],
                "block_id": block_id,
                "value": element.get("value", ""),
                "text": element["text"],
                "action_ts": action_ts,
            }
        ],
    }
