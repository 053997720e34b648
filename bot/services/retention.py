"""Retention: deletes sent or parked outbox rows, old inbound keys and old audit events.

Each table is one indexed range delete (`created_at`, `received_at`, `at`) in its own short
transaction, so a prune never holds locks across tables; an indexed look first skips the
delete (and its write transaction) when nothing is old enough. Pending and sending outbox rows are
never pruned, however old: they are messages still owed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, literal, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Event, InboundKey, OutboxMessage
from bot.domain.clock import Clock
from bot.policy import Retention

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pruned:
    """How many rows one prune deleted, per table."""

    outbox: int
    inbound: int
    events: int


def prune(sessions: sessionmaker[Session], clock: Clock, retention: Retention) -> Pruned:
    """Delete rows older than the policy keeps them; idempotent, safe on any replica.

    Args:
        sessions: the bot's sessionmaker.
        clock: the source of `now`; cut-offs are `now - retention.<table>`.
        retention: `policy.retention`.

    Returns:
        The number of rows deleted from each table.
    """
    now = clock.now()
    outbox = _delete(
        sessions,
        OutboxMessage,
        OutboxMessage.created_at < now - retention.outbox,
        OutboxMessage.status.in_(("sent", "parked")),
    )
    inbound = _delete(sessions, InboundKey, InboundKey.received_at < now - retention.inbound)
    events = _delete(sessions, Event, Event.at < now - retention.audit)
    pruned = Pruned(outbox=outbox, inbound=inbound, events=events)
    if outbox or inbound or events:
        logger.info("pruned %s outbox, %s inbound, %s audit rows", outbox, inbound, events)
    return pruned


def next_prune(sessions: sessionmaker[Session], retention: Retention) -> datetime | None:
    """When `prune` next has work: the first moment the oldest prunable row of a table is
    older than the policy keeps it (a prune deletes rows strictly older than the cut-off)."""
    just_after = timedelta(microseconds=1)
    with sessions() as s:
        # one status at a time: each is the first entry of its (status, created_at) range
        outbox = min(
            (
                found
                for status in ("sent", "parked")
                if (
                    found := s.scalar(
                        select(func.min(OutboxMessage.created_at)).where(
                            OutboxMessage.status == status
                        )
                    )
                )
                is not None
            ),
            default=None,
        )
        inbound = s.scalar(select(func.min(InboundKey.received_at)))
        events = s.scalar(select(func.min(Event.at)))
    due = [
        oldest + keep + just_after
        for oldest, keep in (
            (outbox, retention.outbox),
            (inbound, retention.inbound),
            (events, retention.audit),
        )
        if oldest is not None
    ]
    return min(due, default=None)


def _delete(sessions: sessionmaker[Session], model: Any, *where: ColumnElement[bool]) -> int:
    """Delete `model`'s rows matching `where`, after one indexed look shows there are some:
    an idle pass takes no write lock and commits nothing."""
    with sessions() as s:
        if s.execute(select(literal(1)).select_from(model).where(*where).limit(1)).first() is None:
            return 0
    with sessions.begin() as s:
        statement = delete(model).where(*where).execution_options(synchronize_session=False)
        return int(s.execute(statement).rowcount)  # type: ignore[attr-defined]
