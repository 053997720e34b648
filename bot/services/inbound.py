"""Inbound dedupe: remembers each Slack delivery's key once, so a retry or replay is dropped.

One `INSERT … ON CONFLICT DO NOTHING` per delivery decides it: the replica whose insert adds
the row handles the delivery, every later copy (on any replica) adds nothing and is acked.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import InboundKey
from bot.domain.clock import Clock

MAX_KEY = 200


def delivery_key(body: Mapping[str, Any]) -> str | None:
    """The dedupe key of a Slack request body, or None when it is not deduped.

    Events API deliveries key on `event_id` (a retry carries the same id). Button clicks key on
    who clicked what, on which message, when: `(user, action_id, value, message ts, action_ts)`,
    so a redelivered click is dropped while a second real click (new `action_ts`) goes through.

    Args:
        body: the parsed request body (`event_callback` or `block_actions` payload).

    Returns:
        A key of at most 200 characters, or None for any other kind of request.
    """
    kind = body.get("type")
    if kind == "event_callback" and body.get("event_id"):
        return _bounded(f"event:{body['event_id']}")
    if kind == "block_actions":
        user = (body.get("user") or {}).get("id", "")
        container = body.get("container") or {}
        message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts", "")
        parts = [
            [user, a.get("action_id", ""), _value(a), message_ts, a.get("action_ts", "")]
            for a in body.get("actions") or []
        ]
        if not parts:
            return None
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
        return f"action:{digest}"
    return None


def first_time(sessions: sessionmaker[Session], clock: Clock, key: str) -> bool:
    """Record `key`; True if this is its first delivery, False if it was seen before.

    Args:
        sessions: the bot's sessionmaker.
        clock: the source of `received_at`.
        key: a key from `delivery_key`.

    Returns:
        Whether the caller should handle the delivery.
    """
    with sessions.begin() as s:
        dialect = s.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        added = s.execute(
            insert(InboundKey)
            .values(key=_bounded(key), received_at=clock.now())
            .on_conflict_do_nothing()
            .returning(InboundKey.key)  # exact on both dialects, unlike rowcount via the ORM
        ).first()
        return added is not None


def _value(action: Mapping[str, Any]) -> Any:
    if "value" in action:
        return action["value"]
    return action.get("selected_option") or action.get("selected_options") or ""


def _bounded(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    return key[:100] + ":" + hashlib.sha256(key.encode()).hexdigest()
