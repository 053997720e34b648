"""Buttons that act once: the first press on a one-shot message claims it; later presses (a
double click, a second tab, three clicks on Extend) learn who pressed what, and when.

A claim is two rows of the inbound-dedupe table, written in one transaction: the message's key
(`once:<channel>:<ts>`, inserted with ON CONFLICT DO NOTHING, so exactly one press wins on any
replica) and a record of the winning press (`once:<channel>:<ts>|<action>|<user>`). Retention
prunes both with the other inbound keys; by then the message has lost its buttons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import InboundKey
from bot.domain.clock import Clock

PREFIX = "once:"
SEPARATOR = "|"


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

    def claim(self, key: str, action: str, user_id: str) -> Pressed | None:
        """Claim the message for this press; None when it is ours, else the press that won."""
        now = self.clock.now()
        record = f"{key}{SEPARATOR}{action}{SEPARATOR}{user_id}"
        with self.sessions.begin() as s:
            insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
            won = s.execute(
                insert(InboundKey)
                .values(key=key, received_at=now)
                .on_conflict_do_nothing()
                .returning(InboundKey.key)
            ).first()
            if won is not None:
                s.add(InboundKey(key=record, received_at=now))
                return None
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
                )
            )
