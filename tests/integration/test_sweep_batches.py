"""Sweeps in batches: every due object moves with its audit row and messages, one failing
object is rolled back alone, and the others of its batch still commit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment, Event, OutboxMessage
from bot.domain.clock import ManualClock
from bot.domain.states import EnvEvent, EnvState
from bot.environments.workflow import ENVIRONMENTS
from bot.lifecycle import batch
from bot.lifecycle.moves import Lifecycle
from bot.slack.notify import Notifier

IDS = [f"e{i}" for i in range(7)]


def _seed(
    sessions: sessionmaker[Session], clock: ManualClock, life: Lifecycle[Environment]
) -> None:
    now = clock.now()
    with sessions.begin() as s:
        for env_id in IDS:
            env = Environment(
                id=env_id, name=f"n-{env_id}", workspace="sandbox", template="dev",
                kind="namespace", backend="fake", owner_id="U0ALICE",
                owner_email="alice@example.com", created_by="U0ALICE", state=EnvState.READY,
                created_at=now, updated_at=now, expires_at=now - timedelta(minutes=1),
            )  # fmt: skip
            life.open(s, env, "create", "U0ALICE", now)
            # a pending card update from before: the sweep's own update replaces it
            life.refresh(s, env, now)


def _tell(life: Lifecycle[Environment], now_fail: set[str]) -> object:
    def tell(s: Session, env: Environment) -> None:
        life.thread(s, env, "expired", env.updated_at, "Expired: deleting")
        if env.id in now_fail:
            raise RuntimeError(f"rendering {env.id} failed")
        life.dm(s, env.owner_id, f"expired:{env.id}", env.updated_at, "deleting")

    return tell


@pytest.mark.parametrize("size", [3, 200])
def test_one_failing_object_is_rolled_back_alone(
    sessions: sessionmaker[Session],
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
    size: int,
) -> None:
    # setup: seven due environments in batches of `size`; e4's messages fail half-way
    monkeypatch.setattr(batch, "BATCH", size)
    life = Lifecycle(ENVIRONMENTS, Notifier())
    _seed(sessions, clock, life)
    now = clock.now()

    # execution
    moved = life.sweep(sessions, IDS, EnvEvent.EXPIRE, now, _tell(life, {"e4"}))  # type: ignore[arg-type]

    # validating: six moved, each with its audit row, thread, DM and one card update
    assert moved == 6
    with sessions() as s:
        states = dict(s.execute(select(Environment.id, Environment.state)).all())
        versions = dict(s.execute(select(Environment.id, Environment.version)).all())
        expiries = s.scalars(select(Event.object_id).where(Event.action == EnvEvent.EXPIRE)).all()
        keys = set(s.scalars(select(OutboxMessage.key)).all())
        updates = s.execute(
            select(OutboxMessage.object_id, OutboxMessage.key).where(OutboxMessage.kind == "update")
        ).all()
    moved_ids = [i for i in IDS if i != "e4"]
    assert states == {i: (EnvState.READY if i == "e4" else EnvState.DELETING) for i in IDS}
    assert sorted(expiries) == moved_ids
    for env_id in moved_ids:
        assert f"thread:env:{env_id}:expired" in keys
        assert f"dm:U0ALICE:expired:{env_id}" in keys
    # e4: nothing of its move is left, not even the thread reply queued before the failure
    assert "thread:env:e4:expired" not in keys
    assert "dm:U0ALICE:expired:e4" not in keys
    # one pending card update per object, named by the version the row really has
    assert sorted(updates) == sorted((i, f"update:env:{i}:{versions[i]}") for i in IDS)


def test_a_second_pass_finds_nothing_to_move(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup
    life = Lifecycle(ENVIRONMENTS, Notifier())
    _seed(sessions, clock, life)
    now = clock.now()
    life.sweep(sessions, IDS, EnvEvent.EXPIRE, now, _tell(life, set()))  # type: ignore[arg-type]

    # execution: the same ids again (another replica's stale list)
    again = life.sweep(sessions, IDS, EnvEvent.EXPIRE, now, _tell(life, set()))  # type: ignore[arg-type]

    # validating: nothing moves twice, no second audit row
    assert again == 0
    with sessions() as s:
        rows = s.scalars(select(Event.object_id).where(Event.action == EnvEvent.EXPIRE)).all()
    assert sorted(rows) == IDS
