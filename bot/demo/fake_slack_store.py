"""What the fake Slack shows its users: messages, threads, ephemerals, views, the delivery feed."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.demo.fake_slack_workspace import APP_ID, BOT_ID, TEAM_ID, Workspace

# 2026-01-05 09:00 UTC, the demo's start; message ts count up from here when no clock is given.
DEMO_EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
_TS_STEP_US = 100


class DeliveryKind(StrEnum):
    """What happened to what a user sees."""

    POST = "post"
    UPDATE = "update"
    DELETE = "delete"
    EPHEMERAL = "ephemeral"
    DM = "dm"
    HOME = "home"
    MODAL = "modal"


@dataclass(frozen=True)
class Message:
    """A message as it currently looks (updates replace text and blocks in place).

    `conversation` names where it lives (`#platform`, `DM @alice`); `where` is how the demo
    labels it (`#platform`, `thread`, `DM @alice`, `ephemeral @alice`). `thread_ts` is the
    parent ts of a reply.
    """

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    conversation: str
    where: str
    thread_ts: str | None = None
    ephemeral_to: str | None = None
    dm_user: str | None = None
    edited: bool = False
    metadata: dict[str, Any] | None = None

    def visible_to(self, user_id: str) -> bool:
        """Channel messages are visible to everyone; DMs and ephemerals only to their recipient."""
        if self.ephemeral_to is not None:
            return self.ephemeral_to == user_id
        if self.dm_user is not None:
            return self.dm_user == user_id
        return True

    def to_api(self, *, with_metadata: bool = False) -> dict[str, Any]:
        """The `message` object Slack returns from chat.postMessage / chat.update (and, with
        `with_metadata`, from history when asked with `include_all_metadata`)."""
        out: dict[str, Any] = {
            "type": "message",
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": self.ts,
            "text": self.text,
            "blocks": copy.deepcopy(self.blocks),
        }
        if self.thread_ts is not None:
            out["thread_ts"] = self.thread_ts
        if with_metadata and self.metadata is not None:
            out["metadata"] = copy.deepcopy(self.metadata)
        return out


@dataclass(frozen=True)
class View:
    """A modal or home tab as currently shown to `user`."""

    id: str
    type: str
    user: str | None
    view: dict[str, Any]
    hash: str

    def to_api(self) -> dict[str, Any]:
        """The `view` object Slack returns from views.open / update / publish."""
        return {
            "callback_id": "",
            "private_metadata": "",
            "external_id": "",
            **copy.deepcopy(self.view),
            "id": self.id,
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "hash": self.hash,
            "state": {"values": {}},
            "root_view_id": self.id,
            "previous_view_id": None,
            "app_installed_team_id": TEAM_ID,
        }


@dataclass(frozen=True)
class Delivery:
    """One entry of the ordered feed of what the bot made users see."""

    seq: int
    kind: DeliveryKind
    where: str
    conversation: str
    text: str
    blocks: list[dict[str, Any]]
    channel: str | None = None
    ts: str | None = None
    thread_ts: str | None = None
    user: str | None = None
    view_id: str | None = None


@dataclass
class ResponseUrl:
    """State behind one `response_url` (Slack allows 5 uses within 30 minutes)."""

    channel: str
    user: str
    message_ts: str | None
    created_at: datetime
    uses: int = 0


class Store:
    """Messages, views and the delivery feed; not thread-safe (FakeSlack holds the lock)."""

    def __init__(self, workspace: Workspace, now: Callable[[], datetime] | None) -> None:
        self._ws = workspace
        self._now = now
        self._last_us = int(DEMO_EPOCH.timestamp() * 1_000_000)
        self.messages: dict[tuple[str, str], Message] = {}
        self.views: dict[str, View] = {}
        self.homes: dict[str, str] = {}
        self.feed: list[Delivery] = []
        self._view_seq = 0

    def now(self) -> datetime:
        """The fake's notion of now (the injected clock, else the demo epoch)."""
        return self._now() if self._now is not None else DEMO_EPOCH

    def next_ts(self) -> str:
        """A unique, increasing Slack ts such as "1767603600.000100"."""
        wanted = int(self._now().timestamp() * 1_000_000) if self._now is not None else 0
        self._last_us = max(wanted, self._last_us + _TS_STEP_US)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _deliver(self, kind: DeliveryKind, **fields: Any) -> None:
        self.feed.append(Delivery(seq=len(self.feed), kind=kind, **fields))

    def _feed_message(self, kind: DeliveryKind, msg: Message) -> None:
        self._deliver(
            kind,
            where=msg.where,
            conversation=msg.conversation,
            text=msg.text,
            blocks=copy.deepcopy(msg.blocks),
            channel=msg.channel,
            ts=msg.ts,
            thread_ts=msg.thread_ts,
            user=msg.ephemeral_to or msg.dm_user,
        )

    def post(
        self,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None,
        metadata: dict[str, Any] | None = None,
    ) -> Message:
        """Post a channel or DM message (a thread reply if `thread_ts`)."""
        dm = self._ws.dm_user(channel)
        conversation = self._ws.conversation_name(channel)
        msg = Message(
            channel=channel,
            ts=self.next_ts(),
            text=text,
            blocks=copy.deepcopy(blocks),
            conversation=conversation,
            where="thread" if thread_ts else conversation,
            thread_ts=thread_ts,
            dm_user=dm.id if dm is not None else None,
            metadata=copy.deepcopy(metadata),
        )
        self.messages[(channel, msg.ts)] = msg
        self._feed_message(DeliveryKind.DM if dm is not None else DeliveryKind.POST, msg)
        return msg

    def post_ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: list[dict[str, Any]],
        thread_ts: str | None,
    ) -> Message:
        """Post a message only `user` sees."""
        msg = Message(
            channel=channel,
            ts=self.next_ts(),
            text=text,
            blocks=copy.deepcopy(blocks),
            conversation=self._ws.conversation_name(channel),
            where=f"ephemeral {self._ws.at(user)}",
            thread_ts=thread_ts,
            ephemeral_to=user,
        )
        self.messages[(channel, msg.ts)] = msg
        self._feed_message(DeliveryKind.EPHEMERAL, msg)
        return msg

    def update(
        self, channel: str, ts: str, text: str | None, blocks: list[dict[str, Any]] | None
    ) -> Message:
        """Replace text and/or blocks of an existing message in place."""
        old = self.messages[(channel, ts)]
        msg = dataclasses.replace(
            old,
            text=old.text if text is None else text,
            blocks=old.blocks if blocks is None else copy.deepcopy(blocks),
            edited=True,
        )
        self.messages[(channel, ts)] = msg
        self._feed_message(DeliveryKind.UPDATE, msg)
        return msg

    def delete(self, channel: str, ts: str) -> None:
        """Remove a message (response_url `delete_original`)."""
        msg = self.messages.pop((channel, ts))
        self._feed_message(DeliveryKind.DELETE, msg)

    def top_level_parent(self, channel: str, ts: str) -> str | None:
        """The thread parent ts for a reply to `ts` (Slack threads replies-to-replies flat)."""
        msg = self.messages.get((channel, ts))
        if msg is None or msg.ephemeral_to is not None:
            return None
        return msg.thread_ts or msg.ts

    def _view_hash(self, view: dict[str, Any]) -> str:
        self._view_seq += 1
        digest = hashlib.sha256(repr((self._view_seq, view)).encode()).hexdigest()[:16]
        return f"{int(self.now().timestamp())}.{digest}"

    def open_view(self, user: str | None, view: dict[str, Any]) -> View:
        """Open a modal for `user`."""
        self._view_seq += 1
        vid = f"V{self._view_seq:08d}"
        stored = View(vid, "modal", user, copy.deepcopy(view), self._view_hash(view))
        self.views[vid] = stored
        self._feed_view(stored)
        return stored

    def update_view(self, view_id: str, view: dict[str, Any]) -> View:
        """Replace the definition of an open view."""
        old = self.views[view_id]
        stored = dataclasses.replace(old, view=copy.deepcopy(view), hash=self._view_hash(view))
        self.views[view_id] = stored
        self._feed_view(stored)
        return stored

    def publish_home(self, user: str, view: dict[str, Any]) -> View:
        """Publish (or replace) a user's App Home tab."""
        vid = self.homes.get(user)
        if vid is not None:
            return self.update_view(vid, view)
        vid = "VH" + user
        stored = View(vid, "home", user, copy.deepcopy(view), self._view_hash(view))
        self.views[vid] = stored
        self.homes[user] = vid
        self._feed_view(stored)
        return stored

    def _feed_view(self, view: View) -> None:
        kind = DeliveryKind.HOME if view.type == "home" else DeliveryKind.MODAL
        blocks = view.view.get("blocks") or []
        title = view.view.get("title")
        self._deliver(
            kind,
            where=f"{kind.value} {self._ws.at(view.user)}",
            conversation=f"{kind.value} {self._ws.at(view.user)}",
            text=title.get("text", "") if isinstance(title, dict) else "",
            blocks=copy.deepcopy(blocks),
            user=view.user,
            view_id=view.id,
        )

    def visible_messages(self, user_id: str) -> list[Message]:
        """Messages `user_id` can see, oldest first (newest last)."""
        return sorted(
            (m for m in self.messages.values() if m.visible_to(user_id)),
            key=lambda m: tuple(int(part) for part in m.ts.split(".")),
        )
