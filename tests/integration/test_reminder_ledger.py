"""Reminders keep `remind_at`: a pass reads only objects with a threshold due, an object
already reminded costs nothing, and a new expiry re-arms every threshold."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import REMIND_NOW, Environment, OutboxMessage
from bot.domain.clock import ManualClock
from bot.domain.states import EnvState
from bot.environments.reminders import env_reminders
from bot.lifecycle.context import Context
from bot.lifecycle.reminders import ReminderJob
from bot.slack.notify import Notifier
from tests.integration.test_access_race import POLICY, Directory

HOUR = timedelta(hours=1)


def _env(env_id: str, clock: ManualClock, expires_in: timedelta) -> Environment:
    now = clock.now()
    return Environment(
        id=env_id, name=f"n-{env_id}", workspace="sandbox", template="dev", kind="namespace",
        backend="fake", owner_id="U0ALICE", owner_email="alice@example.com",
        created_by="U0ALICE", state=EnvState.READY, created_at=now, updated_at=now,
        expires_at=now + expires_in, version=1,
    )  # fmt: skip


def _reminders(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        keys = s.scalars(select(OutboxMessage.key).where(OutboxMessage.kind == "dm")).all()
    return sorted(k.split(":")[4] + ":" + k.rsplit(":", 1)[1] for k in keys)


def _remind_at(sessions: sessionmaker[Session]) -> dict[str, Any]:
    with sessions() as s:
        return {e.id: e.remind_at for e in s.scalars(select(Environment))}


def test_reminded_objects_are_not_read_again(
    engine: Engine, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: soon (30 min), tomorrow (20 h) and later (5 days); new objects are armed
    ctx = Context(POLICY, clock, sessions, Directory(), Notifier())
    job = ReminderJob(ctx, [env_reminders(ctx)])
    with sessions.begin() as s:
        s.add_all([_env("soon", clock, HOUR / 2), _env("tomorrow", clock, 20 * HOUR),
                   _env("later", clock, timedelta(days=5))])  # fmt: skip
    assert set(_remind_at(sessions).values()) == {REMIND_NOW}
    now = clock.now()

    # execution 1: the first pass
    first = job.run()

    # validating 1: the nearest crossed threshold each, and each object's next look
    assert first == 2
    assert _reminders(sessions) == ["soon:3600", "tomorrow:86400"]
    assert _remind_at(sessions) == {
        "soon": None,  # its last threshold is sent
        "tomorrow": now + 20 * HOUR - HOUR,  # the 1 h threshold
        "later": now + timedelta(days=5) - 24 * HOUR,  # the 24 h threshold
    }

    # execution 2: a second pass, watching what it sends to the database
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: sent.append(a[2]))
    second = job.run()

    # validating 2: one indexed query, nothing read about reminded objects, nothing queued
    assert second == 0
    assert len(sent) == 1, sent
    assert "remind_at <=" in sent[0]
    assert "outbox" not in sent[0]

    # execution 3: "soon" is extended by 2 h; time reaches tomorrow's 1 h threshold
    with sessions.begin() as s:
        soon = s.get(Environment, "soon")
        assert soon is not None
        soon.expires_at += 2 * HOUR
    assert _remind_at(sessions)["soon"] == REMIND_NOW
    clock.advance(19 * HOUR)
    third = job.run()

    # validating 3: the new expiry re-armed "soon"; "tomorrow" gets its 1 h reminder
    assert third == 1  # soon expired at its new time, 16.5 h ago: nothing to remind
    assert _reminders(sessions) == ["soon:3600", "tomorrow:3600", "tomorrow:86400"]
    assert _remind_at(sessions)["soon"] is None
    assert _remind_at(sessions)["tomorrow"] is None


def test_an_extension_gets_its_own_reminders(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: reminded at 1 h, then extended by a day before it expires
    ctx = Context(POLICY, clock, sessions, Directory(), Notifier())
    job = ReminderJob(ctx, [env_reminders(ctx)])
    with sessions.begin() as s:
        s.add(_env("soon", clock, HOUR / 2))
    job.run()
    with sessions.begin() as s:
        soon = s.get(Environment, "soon")
        assert soon is not None
        soon.expires_at += 24 * HOUR

    # execution
    queued = job.run()

    # validating: the new expiry (24.5 h away) crosses the 24 h threshold again, once
    assert queued == 0  # 24.5 h: not crossed yet
    assert job.next_due(clock.now()) == clock.now() + timedelta(minutes=30)
    clock.advance(timedelta(minutes=30))
    assert job.run() == 1
    assert len(_reminders(sessions)) == 2
