"""Environment names are unique per install (every workspace) while reserved: live, or deleted
with its cloud cleanup pending. Enforced by the database, so concurrent creates race safely."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient, sessionmaker

from bot.db.models import Environment
from bot.domain.clock import ManualClock
from bot.domain.commands import Actor, parse_command
from bot.environments.service import EnvironmentService
from bot.errors import Conflict
from bot.lifecycle.context import Context
from bot.policy import load_policy
from bot.slack.notify import Notifier
from tests.fakes.static_directory import NoViews
from tests.integration.test_access_race import Directory

POLICY = load_policy(Path(__file__).resolve().parents[2] / "examples" / "policy.yaml")
# below the sandbox template's total quota (20): at the 20th create the loser of the race may
# be told the template is full, which is also right, instead of that the name is taken
ROUNDS = 15


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
        assert any(f'"same-{n}" already exists; pick another name' in o for o in outcomes)
        # keep under the per-user quota of 2 for the next round; the name stays taken
        with sessions.begin() as s:
            for env in s.scalars(select(Environment).where(Environment.name == f"same-{n}")):
                env.owner_id = "U0SOMEONE"
    with sessions() as s:
        names = s.scalars(select(Environment.name)).all()
    assert sorted(names) == sorted(f"same-{n}" for n in range(ROUNDS))


def _service(sessions: sessionmaker[Session], clock: ManualClock) -> EnvironmentService:
    return EnvironmentService(
        Context(POLICY, clock, sessions, Directory(), Notifier()), "#platform", NoViews()
    )


def _names(sessions: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    with sessions() as s:
        rows = s.execute(select(Environment.name, Environment.state, Environment.cloud_cleanup))
        return sorted((n, st, c) for n, st, c in rows)


def _insert_copy(sessions: sessionmaker[Session], new_id: str) -> None:
    """Insert a REQUESTED copy of the only environment, bypassing the service's check."""
    with sessions.begin() as s:
        row = s.scalars(select(Environment)).one()
        s.expunge(row)
        make_transient(row)
        row.id, row.state = new_id, "REQUESTED"
        s.add(row)


def test_a_name_is_unique_across_workspaces(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: `sandbox` creates in workspace sandbox, `prod-cluster` in workspace production
    service = _service(sessions, clock)
    service.create(parse_command("env", "create sandbox shared-name"), Actor("U0ALICE"))

    # execution: bob asks for the same name in another workspace
    with pytest.raises(Conflict, match='"shared-name" already exists; pick another name'):
        service.create(parse_command("env", "create prod-cluster shared-name"), Actor("U0BOB"))

    # validating: still one environment of that name
    assert [n for n, _, _ in _names(sessions)] == ["shared-name"]


def test_a_deleted_cluster_keeps_its_name_until_its_cloud_cleanup_is_done(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: a cluster environment deleted, its cloud cleanup still pending
    service = _service(sessions, clock)
    service.create(parse_command("env", "create sandbox reused"), Actor("U0ALICE"))
    with sessions.begin() as s:
        env = s.scalars(select(Environment)).one()
        env.state = "DELETED"
    before = _names(sessions)

    # execution + validating: refused while the cleanup is pending, with the reason
    with pytest.raises(Conflict, match=r"stays reserved until the cloud cleanup of the deleted"):
        service.create(parse_command("env", "create sandbox reused"), Actor("U0ALICE"))
    assert _names(sessions) == before == [("reused", "DELETED", "pending")]

    # the index refuses it too, whatever the service checks (the race-free part)
    with pytest.raises(IntegrityError):
        _insert_copy(sessions, "eclone")

    # execution: the cleanup finishes; the name is free again
    with sessions.begin() as s:
        s.scalars(select(Environment)).one().cloud_cleanup = "done"
    service.create(parse_command("env", "create sandbox reused"), Actor("U0ALICE"))
    assert [st for _, st, _ in _names(sessions)] == ["DELETED", "PROVISIONING"]


def test_a_deleted_namespace_environment_frees_its_name(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # a namespace environment has no cloud cleanup: DELETED frees its name at once
    service = _service(sessions, clock)
    service.create(parse_command("env", "create dev ns-reused"), Actor("U0ALICE"))
    with sessions.begin() as s:
        s.scalars(select(Environment)).one().state = "DELETED"
    service.create(parse_command("env", "create dev ns-reused"), Actor("U0ALICE"))
    assert [st for _, st, _ in _names(sessions)] == ["DELETED", "PROVISIONING"]
