"""A sweep that re-renders many cards with DM copies stays flat: the copies' updates join the
batch's one INSERT, so the statements of a batch do not grow with its objects or copies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment, OutboxMessage
from bot.domain.clock import ManualClock
from bot.domain.states import EnvState
from bot.environments.workflow import ENVIRONMENTS
from bot.lifecycle.batch import sweep_chunk
from bot.lifecycle.moves import Lifecycle
from bot.slack.notify import Notifier

COPIES = ["U0CAROL", "U0ERIN", "U0BOB"]


def _seed(sessions: sessionmaker[Session], clock: ManualClock, ids: list[str]) -> None:
    now = clock.now()
    approval = {"required": 2, "votes": [], "eligible": COPIES, "until": None, "mention": "",
                "escalated": False, "dms": COPIES}  # fmt: skip
    with sessions.begin() as s:
        for env_id in ids:
            s.add(
                Environment(
                    id=env_id,
                    name=f"n-{env_id}",
                    workspace="sandbox",
                    template="dev",
                    kind="namespace",
                    backend="fake",
                    owner_id="U0ALICE",
                    owner_email="alice@example.com",
                    created_by="U0ALICE",
                    state=EnvState.PENDING_APPROVAL,
                    created_at=now,
                    updated_at=now,
                    expires_at=now + timedelta(hours=1),
                    approval=approval,
                )
            )


def _statements(engine: Engine, sessions: sessionmaker[Session], clock: ManualClock, n: int) -> int:
    ids = [f"s{n}x{i}" for i in range(n)]
    _seed(sessions, clock, ids)
    life = Lifecycle(ENVIRONMENTS, Notifier())
    sent: list[str] = []

    def seen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    def work(s: Session, env: Environment) -> bool:
        env.updated_at = clock.now()
        life.refresh(s, env, clock.now())
        return True

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert sweep_chunk(sessions, Environment, ids, work, "test") == n
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    with sessions() as s:
        queued = s.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.kind == "update", OutboxMessage.object_id.in_(ids))
        )
    assert queued == n * (1 + len(COPIES))  # the card and each copy, once per object
    return len(sent)


def test_a_sweep_of_cards_with_copies_sends_as_many_statements_for_3_as_for_40(
    engine: Engine, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # execution
    few = _statements(engine, sessions, clock, 3)
    many = _statements(engine, sessions, clock, 40)

    # validating
    assert many == few
