"""What the fake Slack's users see: deliveries, messages, threads, modals and Home tabs."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from bot.demo.fake_slack_store import Delivery, Message, Store, View
from bot.demo.fake_slack_workspace import Workspace


class WhatUsersSee:
    """Read helpers of `FakeSlack` for tests and the demo; they take the fake's lock."""

    _lock: AbstractContextManager[Any]
    _store: Store
    _ws: Workspace

    def deliveries_since(self, cursor: int = 0) -> tuple[list[Delivery], int]:
        """Deliveries after `cursor` (start with 0) and the cursor to pass next time."""
        with self._lock:
            feed = self._store.feed[cursor:]
            return list(feed), cursor + len(feed)

    def visible_messages(self, user: str) -> list[Message]:
        """Current messages this user can see (channels, own DMs and ephemerals), newest last."""
        with self._lock:
            return self._store.visible_messages(self._ws.require_user(user).id)

    def message(self, channel: str, ts: str) -> Message | None:
        """One message as it looks now."""
        with self._lock:
            found = self._ws.find_channel(channel)
            return self._store.messages.get((found.id if found else channel, ts))

    def history(self, channel: str) -> list[Message]:
        """Top-level, non-ephemeral messages of a conversation, oldest first."""
        with self._lock:
            found = self._ws.find_channel(channel)
            cid = found.id if found else channel
            msgs = [
                m
                for (c, _), m in self._store.messages.items()
                if c == cid and m.thread_ts is None and m.ephemeral_to is None
            ]
        return sorted(msgs, key=lambda m: tuple(int(p) for p in m.ts.split(".")))

    def replies(self, channel: str, thread_ts: str) -> list[Message]:
        """The thread replies under a parent message, oldest first."""
        with self._lock:
            found = self._ws.find_channel(channel)
            cid = found.id if found else channel
            msgs = [
                m
                for (c, _), m in self._store.messages.items()
                if c == cid and m.thread_ts == thread_ts and m.ephemeral_to is None
            ]
        return sorted(msgs, key=lambda m: tuple(int(p) for p in m.ts.split(".")))

    def kept_messages(self) -> list[Message]:
        """Every message Slack keeps history of (channels, threads, DMs; no ephemerals)."""
        with self._lock:
            return [m for m in self._store.messages.values() if m.ephemeral_to is None]

    def open_modals(self, user: str) -> list[View]:
        """Modals open for a user, oldest first."""
        with self._lock:
            uid = self._ws.require_user(user).id
            return [v for v in self._store.views.values() if v.type == "modal" and v.user == uid]

    def home_view(self, user: str) -> View | None:
        """The App Home tab last published for a user."""
        with self._lock:
            vid = self._store.homes.get(self._ws.require_user(user).id)
            return self._store.views[vid] if vid is not None else None

    def close_view(self, view_id: str) -> None:
        """Close a modal (after a submission the app acked without errors)."""
        with self._lock:
            self._store.views.pop(view_id, None)
