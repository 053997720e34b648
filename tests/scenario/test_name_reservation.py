"""A name stays reserved after its cluster is deleted until the cloud cleanup (which finds the
cluster's leftovers by its name) has finished, over signed HTTP with the in-memory backends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment
from bot.domain.clock import ManualClock
from bot.wiring import Runtime
from provisioning.cloud import CleanupItem, CleanupReport
from tests.scenario.conftest import SlackClient


def _env(sessions: sessionmaker[Session], env_id: str) -> Environment:
    with sessions() as s:
        env = s.get(Environment, env_id)
    assert env is not None
    return env


def _until(runtime: Runtime, clock: ManualClock, done: Callable[[], bool]) -> None:
    """Run the jobs a minute at a time until `done` (at most two hours of simulated time)."""
    for _ in range(120):
        if done():
            return
        runtime.jobs.advance(clock, timedelta(minutes=1))
    raise AssertionError("not done after two simulated hours")


class SlowCloud:
    """A cloud whose first cleanup of a cluster cannot finish (a security group in use)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def identity(self) -> str:
        return "arn:aws:sts::123456789012:assumed-role/envbot/test"

    def cleanup(self, cluster_name: str, workspace: str) -> CleanupReport:
        self.calls.append(cluster_name)
        if self.calls.count(cluster_name) > 1:
            return CleanupReport()
        item = CleanupItem("ec2:security-group", "sg-0123", "failed", "in use by an ENI")
        return CleanupReport((item,))


@pytest.fixture
def cloud() -> SlowCloud:
    return SlowCloud()


def test_a_name_is_refused_while_its_deleted_clusters_cleanup_is_pending(
    slack_http: SlackClient,
    runtime: Runtime,
    clock: ManualClock,
    sessions: sessionmaker[Session],
    cloud: SlowCloud,
) -> None:
    # setup: alice's cluster expires and is deleted; its cloud cleanup must run again later
    slack_http.ask("alice", "/env", "create sandbox reuse-me")
    with sessions() as s:
        env_id = s.scalars(select(Environment.id).where(Environment.name == "reuse-me")).one()
    clock.set(_env(sessions, env_id).expires_at)
    _until(runtime, clock, lambda: _env(sessions, env_id).state == "DELETED")
    deleted = _env(sessions, env_id)

    # execution: bob wants the name, in another workspace, while the cleanup is pending
    refused = slack_http.ask("bob", "/env", "create prod-cluster reuse-me")
    _until(runtime, clock, lambda: _env(sessions, env_id).cloud_cleanup == "done")
    accepted = slack_http.ask("bob", "/env", "create prod-cluster reuse-me")

    # validating
    assert (deleted.state, deleted.cloud_cleanup) == ("DELETED", "pending")
    assert "stays reserved until the cloud cleanup of the deleted environment" in refused
    assert cloud.calls == ["reuse-me", "reuse-me"]
    assert "needs approval" in accepted
    with sessions() as s:
        rows = s.execute(select(Environment.state).where(Environment.name == "reuse-me")).all()
    assert sorted(r[0] for r in rows) == ["DELETED", "PENDING_APPROVAL"]
