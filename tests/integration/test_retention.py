"""Retention: old sent/parked outbox rows, inbound keys and audit events go; the rest stays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Event, InboundKey, OutboxMessage
from bot.domain.clock import ManualClock
from bot.policy import Retention
from bot.services.retention import Pruned, prune

POLICY = Retention(audit=timedelta(days=400), outbox=timedelta(days=7), inbound=timedelta(days=1))


def _outbox(key: str, status: str, age: timedelta, clock: ManualClock) -> OutboxMessage:
    at = clock.now() - age
    return OutboxMessage(
        key=key, kind="post", channel="#platform", payload={"text": key}, status=status,
        attempts=0, created_at=at, due_at=at, last_error="",
    )  # fmt: skip


def _seed(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    old, young = timedelta(days=8), timedelta(days=6)
    now = clock.now()
    with sessions.begin() as s:
        s.add_all(
            [
                _outbox("old-sent", "sent", old, clock),
                _outbox("old-parked", "parked", old, clock),
                _outbox("old-pending", "pending", old, clock),
                _outbox("old-sending", "sending", old, clock),
                _outbox("young-sent", "sent", young, clock),
                InboundKey(key="event:old", received_at=now - timedelta(days=1, seconds=1)),
                InboundKey(key="event:young", received_at=now - timedelta(hours=23)),
                Event(at=now - timedelta(days=401), actor="U0ALICE", object_type="env",
                      object_id="e1", action="create"),
                Event(at=now - timedelta(days=399), actor="U0ALICE", object_type="env",
                      object_id="e1", action="delete"),
            ]
        )  # fmt: skip


def test_prune_deletes_only_what_is_old_and_finished(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup
    _seed(sessions, clock)
    # execution
    pruned = prune(sessions, clock, POLICY)
    # validating
    assert pruned == Pruned(outbox=2, inbound=1, events=1)
    with sessions() as s:
        assert set(s.scalars(select(OutboxMessage.key))) == {
            "old-pending",
            "old-sending",
            "young-sent",
        }
        assert list(s.scalars(select(InboundKey.key))) == ["event:young"]
        assert list(s.scalars(select(Event.action))) == ["delete"]


def test_prune_twice_deletes_nothing_more(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    _seed(sessions, clock)
    prune(sessions, clock, POLICY)
    assert prune(sessions, clock, POLICY) == Pruned(outbox=0, inbound=0, events=0)


def test_time_passing_makes_rows_prunable(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    _seed(sessions, clock)
    prune(sessions, clock, POLICY)
    clock.advance(timedelta(days=2))
    assert prune(sessions, clock, POLICY) == Pruned(outbox=1, inbound=1, events=1)
