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
    Slash commands and modal submissions key on `trigger_id`, which Slack mints once per
    invocation: a replay of the same signed body (inside the 5-minute signature window) is
    dropped, while typing the command again or pressing Submit again is a new trigger.

    Args:
        body: the parsed request body (an event, a click, a slash command or a submission).

    Returns:
        A key of at most 200 characters, or None for any other kind of request.
    """
    kind = body.get("type")
    trigger = body.get("trigger_id")
    if body.get("command") and isinstance(trigger, str) and trigger:
        return bounded(f"command:{trigger}")
    if kind == "view_submission" and isinstance(trigger, str) and trigger:
        return bounded(f"view:{trigger}")
    if kind == "event_callback" and body.get("event_id"):
        return bounded(f"event:{body['event_id']}")
    if kind == "block_actions":
        who = body.get("user")
        user = who.get("id", "") if isinstance(who, dict) else ""
        container = _object(body.get("container"))
        message_ts = container.get("message_ts") or _object(body.get("message")).get("ts", "")
        raw = body.get("actions")
        actions: list[Any] = raw if isinstance(raw, list) else []
        parts = [
            [user, a.get("action_id", ""), _value(a), message_ts, a.get("action_ts", "")]
            for a in actions
            if isinstance(a, dict)
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
        return record_key(s, clock, key)


def record_key(s: Session, clock: Clock, key: str) -> bool:
    """`first_time` inside the caller's transaction (the inbox records its row with it)."""
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    added = s.execute(
        insert(InboundKey)
        .values(key=bounded(key), received_at=clock.now())
        .on_conflict_do_nothing()
        .returning(InboundKey.key)  # exact on both dialects, unlike rowcount via the ORM
    ).first()
    return added is not None


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _value(action: Mapping[str, Any]) -> Any:
    if "value" in action:
        return action["value"]
    return action.get("selected_option") or action.get("selected_options") or ""


def bounded(key: str) -> str:
    """`key`, or its first 100 characters and a digest when it is longer than `MAX_KEY`."""
    if len(key) <= MAX_KEY:
        return key
    return key[:100] + ":" + hashlib.sha256(key.encode()).hexdigest()
