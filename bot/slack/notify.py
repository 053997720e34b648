"""The outbox: services queue Slack messages in their own transaction; a job drains them.

Every row has a unique key, so queueing the same message twice (a retry, a second replica)
adds nothing. Thread replies and card updates name their object instead of a ts: the drain
looks the card up in `slack_messages` when it sends, and waits while the card is unsent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, Table, and_, bindparam, delete, or_, select
from sqlalchemy.orm import Session

from bot.db.bulk import Together, pending, upsert
from bot.db.models import OutboxMessage
from bot.slack.blocks import Message

CARD = "card"
# What a DM copy of a card is recorded under (`dm:<user id>`); the drain paces it, as every DM
# to that user, under the same name.
DM_PREFIX = "dm:"
# Set in `Session.info` when a row is queued: `bot.lifecycle.wake` wakes the drain after commit.
OUTBOX_ADDED = "envbot_outbox_added"
OUTBOX: Table = OutboxMessage.__table__  # type: ignore[assignment]
# built once: the statements a sweep runs per object (SQLAlchemy caches their compilation)
_DROP_UPDATES = delete(OUTBOX).where(
    OUTBOX.c.kind == "update",
    OUTBOX.c.status == "pending",
    OUTBOX.c.object_type == bindparam("object_type"),
    OUTBOX.c.object_id == bindparam("object_id"),
)


def _drop_updates_of(objs: Sequence[dict[str, Any]]) -> Executable:
    """A batch's `_DROP_UPDATES`: one DELETE for all its objects (of one workflow, or more)."""
    ids: dict[str, list[str]] = {}
    for o in objs:
        ids.setdefault(o["object_type"], []).append(o["object_id"])
    return delete(OUTBOX).where(
        OUTBOX.c.kind == "update",
        OUTBOX.c.status == "pending",
        or_(*(and_(OUTBOX.c.object_type == t, OUTBOX.c.object_id.in_(i)) for t, i in ids.items())),
    )


_DROP_ALL_UPDATES = Together(_drop_updates_of)


class Notifier:
    """Queues posts, thread replies, card updates, DMs, ephemerals and private answers."""

    def card(
        self,
        s: Session,
        *,
        now: datetime,
        obj: tuple[str, str],
        channel: str,
        message: Message,
        requester: str = "",
    ) -> None:
        """Post the object's card once; later changes go through `update_card`. If the bot
        cannot post in `channel`, the drain sends the card to `requester` as a DM instead."""
        self._drop_pending_updates(s, obj)  # the card is rendered from the newest state
        self._add(
            s,
            now,
            f"card:{obj[0]}:{obj[1]}",
            "post",
            message,
            channel=channel,
            user_id=requester,
            obj=obj,
            purpose=CARD,
        )

    @staticmethod
    def _drop_pending_updates(s: Session, obj: tuple[str, str]) -> None:
        params = {"object_type": obj[0], "object_id": obj[1]}
        held = pending(s)
        if held is None:
            s.execute(_DROP_UPDATES, params)
            return
        held.run_later(_DROP_ALL_UPDATES, params)  # a batch: before its inserts
        held.drop(
            ("update", *obj),
            lambda table, row: (
                not (
                    table is OUTBOX
                    and row["kind"] == "update"
                    and (row["object_type"], row["object_id"]) == obj
                )
            ),
        )

    def update_card(
        self, s: Session, *, now: datetime, obj: tuple[str, str], version: int, message: Message
    ) -> None:
        """Re-render the card in place; an unsent older update for the same card is dropped."""
        self._drop_pending_updates(s, obj)
        self._add(
            s, now, f"update:{obj[0]}:{obj[1]}:{version}", "update", message, obj=obj, purpose=CARD
        )

    def update_copy(
        self,
        s: Session,
        *,
        now: datetime,
        obj: tuple[str, str],
        version: int,
        purpose: str,
        message: Message,
    ) -> None:
        """Re-render a DM copy of the card (recorded under `purpose`) in place. Queue it after
        the card's `update_card`, which dropped the copies' older unsent updates too."""
        key = f"update:{obj[0]}:{obj[1]}:{version}:{purpose}"
        self._add(s, now, key, "update", message, obj=obj, purpose=purpose)

    def thread(
        self, s: Session, *, now: datetime, obj: tuple[str, str], key: str, message: Message
    ) -> bool:
        """Reply in the card's thread; `key` makes the reply unique (for example a phase).

        Returns:
            False when a reply with this key was queued before (nothing was added).
        """
        return self._add(
            s, now, f"thread:{obj[0]}:{obj[1]}:{key}", "post", message, obj=obj, thread_purpose=CARD
        )

    def dm(
        self,
        s: Session,
        *,
        now: datetime,
        user_id: str,
        key: str,
        message: Message,
        due_at: datetime | None = None,
        obj: tuple[str, str] = ("", ""),
        purpose: str = "",
    ) -> None:
        """Send a direct message; `key` makes it unique. With `obj` and `purpose` (a DM copy of
        a card), the drain records where it went, so `update_copy` can re-render it."""
        self._add(
            s,
            now,
            _dm_key(user_id, key),
            "dm",
            message,
            user_id=user_id,
            due_at=due_at,
            obj=obj,
            purpose=purpose,
        )

    @staticmethod
    def dm_queued(s: Session, *, user_id: str, key: str) -> bool:
        """Whether `dm` with this key was queued before (and not yet pruned): another is a no-op."""
        found = s.scalar(select(OutboxMessage.id).where(OutboxMessage.key == _dm_key(user_id, key)))
        return found is not None

    def ephemeral(
        self, s: Session, *, now: datetime, channel: str, user_id: str, key: str, message: Message
    ) -> None:
        """Show a message to one user in a channel."""
        self._add(
            s, now, f"eph:{user_id}:{key}", "ephemeral", message, channel=channel, user_id=user_id
        )

    def respond(
        self,
        s: Session,
        *,
        now: datetime,
        key: str,
        url: str,
        channel: str,
        user_id: str,
        message: Message,
        due_at: datetime | None = None,
        purpose: str = "",
    ) -> None:
        """Answer one user privately through their interaction's response_url; when Slack no
        longer takes it, the drain shows it as an ephemeral in `channel`, else as a DM."""
        self._add(
            s,
            now,
            _response_key(user_id, key),
            "response",
            message,
            channel=channel,
            user_id=user_id,
            response_url=url,
            due_at=due_at,
            purpose=purpose,
        )

    @staticmethod
    def withdraw_response(s: Session, *, user_id: str, key: str) -> None:
        """Drop a `respond` row with this key that the drain has not taken yet (a fallback
        answer the real one replaces; once taken, both are sent)."""
        s.execute(
            delete(OUTBOX).where(
                OUTBOX.c.key == _stored_key(_response_key(user_id, key)),
                OUTBOX.c.status == "pending",
            )
        )

    @staticmethod
    def _add(
        s: Session,
        now: datetime,
        key: str,
        kind: str,
        message: Message,
        *,
        channel: str = "",
        user_id: str = "",
        obj: tuple[str, str] = ("", ""),
        purpose: str = "",
        thread_purpose: str = "",
        due_at: datetime | None = None,
        response_url: str = "",
    ) -> bool:
        values: dict[str, Any] = {
            "key": _stored_key(key),
            "kind": kind,
            "channel": channel,
            "user_id": user_id,
            "object_type": obj[0],
            "object_id": obj[1],
            "purpose": purpose,
            "thread_purpose": thread_purpose,
            "payload": dict(message),
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "due_at": due_at or now,
            "last_error": "",
            "response_url": response_url,
        }
        s.info[OUTBOX_ADDED] = True
        held = pending(s)
        if held is not None:  # a batch: inserted with the others at its end
            tag = ("update", obj[0], obj[1]) if kind == "update" else None
            held.add(OUTBOX, values, unique=True, tag=tag)
            return True
        added = s.execute(upsert(s, OUTBOX).returning(OUTBOX.c.id), values).first()
        return added is not None


def dm_purpose(user_id: str) -> str:
    """The purpose a DM copy of a card for `user_id` is recorded under, and the drain's pacing
    key for every DM to that user."""
    return f"{DM_PREFIX}{user_id}"


def _dm_key(user_id: str, key: str) -> str:
    return _stored_key(f"dm:{user_id}:{key}")


def _response_key(user_id: str, key: str) -> str:
    """The outbox key of a `respond` row (what `withdraw_response` finds it by)."""
    return f"resp:{user_id}:{key}"


def _stored_key(key: str) -> str:
    """An outbox key as stored: the column holds 200 characters."""
    return key[:200]
