"""The fake Slack's read methods: conversations.history, .replies and .list, paged as Slack pages.

History holds channel and DM messages and thread replies, never ephemerals (Slack keeps none).
A message's `metadata` comes back only when the call asks with `include_all_metadata`.
"""

from __future__ import annotations

from typing import Any

from bot.demo.fake_slack_params import ApiError, Params, Result, flag, required
from bot.demo.fake_slack_store import Message, Store
from bot.demo.fake_slack_workspace import BOT_USER_ID, Workspace

MAX_LIMIT = 999


def _ts_key(ts: str) -> tuple[int, ...]:
    return tuple(int(part) for part in ts.split("."))


def _bound(params: Params, key: str) -> tuple[int, ...] | None:
    value = params.get(key)
    if value in (None, ""):
        return None
    try:
        seconds = float(str(value))
    except ValueError as exc:
        raise ApiError("invalid_arguments", [f"[ERROR] {key} must be a timestamp"]) from exc
    micros = round(seconds * 1_000_000)
    return (micros // 1_000_000, micros % 1_000_000)


def _window(params: Params, msgs: list[Message]) -> list[Message]:
    oldest, latest = _bound(params, "oldest"), _bound(params, "latest")
    inclusive = flag(params, "inclusive")

    def inside(m: Message) -> bool:
        key = _ts_key(m.ts)
        if oldest is not None and (key < oldest or (key == oldest and not inclusive)):
            return False
        return not (latest is not None and (key > latest or (key == latest and not inclusive)))

    return [m for m in msgs if inside(m)]


def _page(params: Params, msgs: list[Message], default_limit: int) -> Result:
    try:
        limit = int(params.get("limit") or default_limit)
        start = int(params.get("cursor") or 0)
    except ValueError as exc:
        raise ApiError("invalid_cursor") from exc
    limit = max(1, min(limit, MAX_LIMIT))
    chunk = msgs[start : start + limit]
    more = start + limit < len(msgs)
    with_metadata = flag(params, "include_all_metadata")
    return {
        "messages": [_api(m, with_metadata) for m in chunk],
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }


def _api(msg: Message, with_metadata: bool) -> dict[str, Any]:
    out = msg.to_api(with_metadata=with_metadata)
    out["user"] = BOT_USER_ID
    return out


class HistoryMethods:
    """conversations.history / .replies / .list over the fake's store."""

    def __init__(self, workspace: Workspace, store: Store) -> None:
        self.ws = workspace
        self.store = store

    def _conversation(self, params: Params) -> str:
        ref = required(params, "channel")
        channel = self.ws.find_channel(ref) if ref.startswith("C") else None
        if channel is not None:
            return channel.id
        if ref.startswith("D") and self.ws.dm_user(ref) is not None:
            return ref
        raise ApiError("channel_not_found")  # history takes ids only, never `#name`

    def _stored(self, channel: str) -> list[Message]:
        return [
            m
            for (c, _), m in self.store.messages.items()
            if c == channel and m.ephemeral_to is None
        ]

    def history(self, params: Params) -> Result:
        """Top-level messages, newest first."""
        channel = self._conversation(params)
        msgs = [m for m in self._stored(channel) if m.thread_ts is None]
        msgs.sort(key=lambda m: _ts_key(m.ts), reverse=True)
        return _page(params, _window(params, msgs), 100)

    def replies(self, params: Params) -> Result:
        """A thread: its parent first, then the replies oldest first."""
        channel = self._conversation(params)
        ts = required(params, "ts")
        parent = self.store.messages.get((channel, ts))
        if parent is None or parent.ephemeral_to is not None:
            raise ApiError("thread_not_found")
        root = parent.thread_ts or parent.ts
        thread = [m for m in self._stored(channel) if m.ts == root or m.thread_ts == root]
        thread.sort(key=lambda m: _ts_key(m.ts))
        head, rest = thread[:1], _window(params, thread[1:])
        return _page(params, head + rest, 1000)

    def list(self, params: Params) -> Result:
        """Channels by id and name: public ones, and private ones only if the bot is in them."""
        types = str(params.get("types") or "public_channel").split(",")
        unknown = set(types) - {"public_channel", "private_channel", "im", "mpim"}
        if unknown:
            raise ApiError("invalid_types")
        channels = [
            {
                "id": c.id,
                "name": c.name,
                "is_channel": True,
                "is_private": c.is_private,
                "is_member": c.bot_member,
            }
            for c in self.ws.channels.values()
            if ("private_channel" if c.is_private else "public_channel") in types
            and (c.bot_member or not c.is_private)
        ]
        try:
            limit = max(1, min(int(params.get("limit") or 100), 1000))
            start = int(params.get("cursor") or 0)
        except ValueError as exc:
            raise ApiError("invalid_cursor") from exc
        more = start + limit < len(channels)
        return {
            "channels": channels[start : start + limit],
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }
