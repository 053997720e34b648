"""Environment names are unique per workspace among live environments, enforced by the database."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment
from bot.domain.clock import ManualClock
from bot.domain.commands import Actor, parse_command
from bot.environments.service import EnvironmentService
from bot.errors import Conflict
from bot.lifecycle.context import Context
from bot.policy import load_policy
from bot.slack.notify import Notifier
from tests.integration.test_access_race import Directory, NoViews

POLICY = load_policy(Path(__file__).resolve().parents[2] / "examples" / "policy.yaml")
ROUNDS = 20


def test_two_creates_of_one_name_at_once_make_one_environment(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: bob and alice are both in @engineering (the sandbox template's allowed group)
    service = EnvironmentService(
        Context(POLICY, clock, sessions, Directory(), Notifier()), "#platform", NoViews()
    )
    for n in range(ROUNDS):
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def create(
            user: str,
            n: int = n,
            barrier: threading.Barrier = barrier,
            outcomes: list[str] = outcomes,
        ) -> None:
            cmd = parse_command("env", f"create sandbox same-{n}")
            barrier.wait()
            try:
                service.create(cmd, Actor(user))
                outcomes.append("created")
            except Conflict as exc:
                outcomes.append(str(exc))

        # execution
        threads = [threading.Thread(target=create, args=(u,)) for u in ("U0ALICE", "U0BOB")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # validating
        assert outcomes.count("created") == 1, outcomes
        assert any(f'"same-{n}" already exists in workspace sandbox' in o for o in outcomes)
        # keep under the per-user quota of 2 for the next round; the name stays taken
        with sessions.begin() as s:
            for env in s.scalars(select(Environment).where(Environment.name == f"same-{n}")):
                env.owner_id = "U0SOMEONE"
    with sessions() as s:
        names = s.scalars(select(Environment.name)).all()
    assert sorted(names) == sorted(f"same-{n}" for n in range(ROUNDS))


def test_a_deleted_environment_frees_its_name(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    service = EnvironmentService(
        Context(POLICY, clock, sessions, Directory(), Notifier()), "#platform", NoViews()
    )
    service.create(parse_command("env", "create sandbox reused"), Actor("U0ALICE"))
    with sessions.begin() as s:
        env = s.scalars(select(Environment)).one()
        env.state = "DELETED"
    service.create(parse_command("env", "create sandbox reused"), Actor("U0ALICE"))
    with sessions() as s:
        states = sorted(s.scalars(select(Environment.state)).all())
    assert states == ["DELETED", "PROVISIONING"]
