"""Crash recovery for outbox posts: the row's key travels as message metadata, so a row whose
last attempt may have reached Slack is looked up in the conversation before it is posted again.

Slack returns `metadata` from conversations.history / .replies only with `include_all_metadata`;
the search starts a little before the row was first claimed and reads a bounded number of pages.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient

EVENT_TYPE = "envbot_outbox"
#: How far before the first claim the search starts: clock skew between us and Slack.
MARGIN = timedelta(minutes=1)
PAGE = 200
MAX_PAGES = 5


def outbox_metadata(key: str) -> dict[str, Any]:
    """The `metadata` every outbox chat.postMessage carries."""
    return {"event_type": EVENT_TYPE, "event_payload": {"key": key}}


def find_posted(
    client: WebClient, channel: str, key: str, since: datetime, thread_ts: str = ""
) -> str | None:
    """The ts of the message carrying `key` in `channel` (in the thread of `thread_ts` when
    given) posted after `since - MARGIN`, or None.

    Raises:
        SlackApiError: Slack refused the lookup (for example `missing_scope`).
    """
    args: dict[str, Any] = {
        "channel": channel,
        "oldest": f"{(since - MARGIN).timestamp():.6f}",
        "include_all_metadata": True,
        "limit": PAGE,
    }
    for _ in range(MAX_PAGES):
        if thread_ts:
            resp = client.conversations_replies(ts=thread_ts, **args)
        else:
            resp = client.conversations_history(**args)
        for message in resp.get("messages") or []:
            if _carries(message, key):
                return str(message["ts"])
        cursor = (resp.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
        args["cursor"] = cursor
    return None


def _carries(message: dict[str, Any], key: str) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(metadata.get("event_type") == EVENT_TYPE and payload.get("key") == key)


def channel_ids(client: WebClient) -> dict[str, str]:
    """`#name` → id for the channels the token can list (history takes ids, not names)."""
    found: dict[str, str] = {}
    cursor = ""
    for _ in range(MAX_PAGES * 10):
        resp = client.conversations_list(
            types="public_channel,private_channel", exclude_archived=True, limit=1000, cursor=cursor
        )
        for channel in resp.get("channels") or []:
            found[f"#{channel['name']}"] = str(channel["id"])
        cursor = (resp.get("response_metadata") or {}).get("next_cursor") or ""
        if not cursor:
            break
    return found
