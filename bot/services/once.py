"""Buttons that act once: the first press on a one-shot message claims it; later presses (a
double click, a second tab, three clicks on Extend) learn who pressed what, and when.

A claim is two rows of the inbound-dedupe table, written in one transaction: the message's key
(`once:<channel>:<ts>`, inserted with ON CONFLICT DO NOTHING, so exactly one press wins on any
replica) and a record of the winning press (`once:<channel>:<ts>|<action>|<user>`). Retention
prunes both with the other inbound keys; by then the message has lost its buttons. A press run
from the inbox adds a third row, a marker of its request, and leaves the inbox row open: a run of
that row again after a crash between the claim and the action finds its own claim and acts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import InboundKey
from bot.domain.clock import Clock
from bot.services.inbox import keep_open

PREFIX = "once:"
SEPARATOR = "|"
MARKER = "@"  # `once:<channel>:<ts>@<digest of the inbox key>`: which request claimed it


@dataclass(frozen=True)
class Pressed:
    """The press that acted on a one-shot message."""

    action: str
    user_id: str
    at: datetime


def message_key(channel: str, ts: str) -> str:
    """The claim key of one message."""
    return f"{PREFIX}{channel}:{ts}"


class OnceOnly:
    """Claims one-shot messages for the first press (see the module docstring)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def claim(self, key: str, action: str, user_id: str, run: str | None = None) -> Pressed | None:
        """Claim the message for this press; None when it is ours, else the press that won.

        `run` is the key of the inbox row the press is run from: the claim then leaves the row
        open (its action is the run's effect), with a marker, so that a run of the same row
        again after a crash between the claim and the action finds its own claim and acts.
        """
        now = self.clock.now()
        record = f"{key}{SEPARATOR}{action}{SEPARATOR}{user_id}"
        marker = f"{key}{MARKER}{hashlib.sha256(run.encode()).hexdigest()[:24]}" if run else ""
        with self.sessions.begin() as s:
            if marker:
                keep_open(s)
            insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
            won = s.execute(
                insert(InboundKey)
                .values(key=key, received_at=now)
                .on_conflict_do_nothing()
                .returning(InboundKey.key)
            ).first()
            if won is not None:
                s.add(InboundKey(key=record, received_at=now))
                if marker:
                    s.add(InboundKey(key=marker, received_at=now))
                return None
            if marker and s.get(InboundKey, marker) is not None:
                return None  # this request's own claim: its first run died before the action
        return self.pressed(key) or Pressed("", "", now)

    def pressed(self, key: str) -> Pressed | None:
        """The press that claimed `key`, if any."""
        with self.sessions() as s:
            row = s.scalars(
                select(InboundKey).where(
                    InboundKey.key.startswith(key + SEPARATOR, autoescape=True)
                )
            ).first()
        if row is None:
            return None
        _, action, user_id = row.key.rsplit(SEPARATOR, 2)
        return Pressed(action, user_id, row.received_at)

    def release(self, key: str) -> None:
        """Give the message back (the press was refused and changed nothing)."""
        with self.sessions.begin() as s:
            s.execute(
                delete(InboundKey).where(
                    (InboundKey.key == key)
                    | InboundKey.key.startswith(key + SEPARATOR, autoescape=True)
                    | InboundKey.key.startswith(key + MARKER, autoescape=True)
                )
            )
