"""A test-only third workflow (sleep schedules) runs request -> decision -> apply -> reminder ->
extend -> drift -> end through the lifecycle kernel alone, touching neither slice."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Event, OutboxMessage
from bot.domain.clock import ManualClock
from bot.errors import Conflict, NotAllowed, UserError
from bot.lifecycle.backends import BackendUseCases
from bot.lifecycle.context import Context
from bot.lifecycle.decisions import Decisions
from bot.lifecycle.drift import DriftWords, track_drift
from bot.lifecycle.extension import Extensions
from bot.lifecycle.moves import SYSTEM, Lifecycle
from bot.lifecycle.reminders import ReminderJob, Reminders
from bot.slack.blocks import ActionId
from bot.slack.notify import Notifier
from tests.fakes.sleep_workflow import (
    SLEEPS,
    FakeSleeper,
    Sleep,
    SleepBase,
    SleepState,
    limits,
)
from tests.integration.test_access_race import POLICY, Directory

HERE = Path(__file__)
FAKE = HERE.parents[1] / "fakes" / "sleep_workflow.py"


class CountingWake:
    def __init__(self) -> None:
        self.count = 0

    def wake(self) -> None:
        self.count += 1


class SleepJobs(BackendUseCases[Sleep, FakeSleeper, str]):
    """The workflow's apply and end jobs, on the kernel's backend port."""

    def apply_due(self) -> None:
        now = self.clock.now()
        with self.sessions() as s:
            due = s.scalars(select(Sleep).where(Sleep.state == SleepState.APPROVED)).all()
        for backend, group in self.grouped(due):
            for sleep in group:
                backend.sleep(self.spec(sleep))
                with self.sessions.begin() as s:
                    row = self.life.locked(s, sleep.id)
                    self.life.move(s, row, "sleep", SYSTEM, now)

    def wake_due(self) -> int:
        now = self.clock.now()
        with self.sessions() as s:
            ids = s.scalars(
                select(Sleep.id).where(Sleep.state == SleepState.ASLEEP, Sleep.expires_at <= now)
            ).all()

        def woken(s: Session, sleep: Sleep) -> None:
            self.backend(sleep.backend).wake(self.spec(sleep))
            self.life.thread(s, sleep, "woken", now, "Awake again")

        return self.life.sweep(self.sessions, ids, "wake", now, woken)


@pytest.fixture
def sleep_tables(engine: Engine) -> Iterator[None]:
    SleepBase.metadata.create_all(engine)
    yield
    SleepBase.metadata.drop_all(engine)


def _texts(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        rows = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    return [f"{r.kind}:{r.user_id}:{r.payload.get('text', '')}" for r in rows]


def test_a_third_workflow_runs_its_whole_life_on_the_kernel(
    sessions: sessionmaker[Session], clock: ManualClock, sleep_tables: None
) -> None:
    # setup: the kernel's parts for a workflow neither slice knows
    wake = CountingWake()
    ctx = Context(POLICY, clock, sessions, Directory(), Notifier(), wake)
    life = Lifecycle(SLEEPS, ctx.notifier)
    decided: list[str] = []
    decisions = Decisions(ctx, life, lambda s, obj, d: decided.append(d.verdict))
    backend = FakeSleeper()
    jobs = SleepJobs(ctx, SLEEPS, {"fake": backend}, lambda sleep, policy: sleep.workspace)
    extensions = Extensions(ctx, SLEEPS, (frozenset({SleepState.ASLEEP}), "a sleep"), limits)
    now = clock.now()

    # execution 1: request, then the decision (owners only, one winner)
    with sessions.begin() as s:
        sleep = Sleep(
            id="s1", workspace="sandbox", asked_by="U0ALICE", state=SleepState.PENDING,
            created_at=now, updated_at=now, expires_at=now + timedelta(hours=4),
        )  # fmt: skip
        life.open(s, sleep, "request", "U0ALICE", now)
        life.post_card(s, sleep, "#platform", now)
    with pytest.raises(NotAllowed, match="only owners of sandbox can approve"):
        decisions.approve("s1", "U0ALICE")
    approved = decisions.approve("s1", "U0BOB")
    with pytest.raises(Conflict, match="s1 was already approved by <@U0BOB>"):
        decisions.approve("s1", "U0ERIN")

    # validating 1: the decision only committed APPROVED and woke the runner; no backend call
    assert approved["text"] == "Approved `s1`; the clusters go to sleep now."
    assert decided == ["approve"]
    assert wake.count == 1
    assert backend.calls == []

    # execution 2: the apply job, a reminder, an extension, a drift episode
    jobs.apply_due()
    clock.advance(timedelta(hours=3, minutes=1))
    source = Reminders(
        SLEEPS, SleepState.ASLEEP, lambda o, left, when: f"{o.id} wakes in {left}",
        lambda o: timedelta(hours=2), ("Wake now", ActionId.REVOKE_NOW),
    )  # fmt: skip
    reminders = ReminderJob(ctx, [source])
    reminders.run()
    reminders.run()  # the outbox key (object, expiry, threshold) sends it once
    answered = extensions.extend("s1", "U0ALICE", None, lambda s, obj, ext: None)
    with pytest.raises(UserError, match="a sleep lasts 12h"):
        extensions.extend("s1", "U0ALICE", "1d", lambda s, obj, ext: None)
    words = DriftWords(lambda what, reapply: f"Drift: {what}", "Asleep again")
    for what in ("woken by hand", "woken by hand", ""):
        with sessions.begin() as s:
            track_drift(
                life, s, life.locked(s, "s1"), what, clock.now(), reapply=False, words=words
            )

    # validating 2
    assert backend.calls == [("sleep", "sandbox")]
    assert answered.new == now + timedelta(hours=6)
    texts = _texts(sessions)
    assert sum(t.startswith("dm:U0ALICE:s1 wakes in 59m") for t in texts) == 1, texts
    assert sum("Drift: woken by hand" in t for t in texts) == 1
    assert any("Asleep again" in t for t in texts)

    # execution 3: the end
    clock.advance(timedelta(hours=3))
    assert jobs.wake_due() == 1

    # validating 3: the whole life is in the audit trail, in order
    with sessions() as s:
        trail = s.execute(
            select(Event.action, Event.from_state, Event.to_state)
            .where(Event.object_type == "sleep")
            .order_by(Event.id)
        ).all()
        final = s.get(Sleep, "s1")
    assert [tuple(t) for t in trail] == [
        ("request", "", "PENDING"),
        ("approve", "PENDING", "APPROVED"),
        ("sleep", "APPROVED", "ASLEEP"),
        ("extend", "ASLEEP", "ASLEEP"),
        ("drift", "ASLEEP", "ASLEEP"),
        ("drift_resolved", "ASLEEP", "ASLEEP"),
        ("wake", "ASLEEP", "AWAKE"),
    ]
    assert final is not None
    assert final.state == SleepState.AWAKE
    assert backend.calls[-1] == ("wake", "sandbox")


def test_the_third_workflow_touches_neither_slice() -> None:
    # setup / execution: every module the third workflow and its test import
    imported: set[str] = set()
    for path in (FAKE, HERE):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    # validating
    slices = ("bot.environments", "bot.access", "bot.services")
    assert not [m for m in imported if m.startswith(slices)]
