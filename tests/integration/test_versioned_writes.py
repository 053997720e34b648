"""A batch writes its changed versioned rows together: the same rows, values and versions the
ORM would write, a row whose version moved on fails the batch, and an unchanged row is not
written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bot.db.models import REMIND_NOW, Environment
from bot.db.versioned import changed, write_versioned
from bot.domain.clock import ManualClock
from bot.domain.states import EnvState


def _seed(sessions: sessionmaker[Session], clock: ManualClock, ids: list[str]) -> None:
    now = clock.now()
    with sessions.begin() as s:
        for env_id in ids:
            s.add(Environment(
                id=env_id, name=f"n-{env_id}", workspace="sandbox", template="dev",
                kind="namespace", backend="fake", owner_id="U0ALICE",
                owner_email="alice@example.com", created_by="U0ALICE", state=EnvState.READY,
                created_at=now, updated_at=now, expires_at=now + timedelta(hours=1),
            ))  # fmt: skip


def _get(s: Session, env_id: str) -> Environment:
    env = s.get(Environment, env_id)
    assert env is not None
    return env


def test_changed_rows_are_written_with_their_next_version(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: three rows; two change different columns, one is set to what it already holds
    _seed(sessions, clock, ["e1", "e2", "e3"])
    later = clock.now() + timedelta(hours=5)

    # execution
    with sessions.begin() as s:
        e1, e2, e3 = (_get(s, i) for i in ("e1", "e2", "e3"))
        e1.state = EnvState.DELETING
        e2.expires_at = later  # also re-arms its reminders (remind_at)
        e3.state = EnvState.READY
        assert changed(e3) == ()
        written = write_versioned(s)
        s.flush()

    # validating: two rows written, each once, with one more version; e3 untouched
    assert written == 2
    with sessions() as s:
        rows = {e.id: e for e in s.scalars(select(Environment))}
    assert (rows["e1"].state, rows["e1"].version) == (EnvState.DELETING, 2)
    assert (rows["e2"].expires_at, rows["e2"].version) == (later, 2)
    assert rows["e2"].remind_at == REMIND_NOW
    assert (rows["e3"].state, rows["e3"].version) == (EnvState.READY, 1)


def test_a_row_whose_version_moved_on_fails_the_write(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: a row read, then changed behind the object's back (its version moves on)
    _seed(sessions, clock, ["e1", "e2"])
    with sessions() as s:
        e1, e2 = _get(s, "e1"), _get(s, "e2")
        s.execute(
            update(Environment).where(Environment.id == "e2").values(version=7),
            execution_options={"synchronize_session": False},
        )
        e1.state = e2.state = EnvState.DELETING

        # execution / validating: the count does not match, as the ORM's own check would say
        with pytest.raises(StaleDataError, match="2 rows to update, 1 matched"):
            write_versioned(s)
