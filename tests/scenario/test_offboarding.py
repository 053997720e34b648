"""Durable offboarding: a `user_change` commits the offboarding and the job hands each
environment over in its own transaction, with retries; a Slack fault on one heir lookup does
not stop the others, and a crash between environments is resumed by the next process, each
environment handed over, announced and audited exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment, Event, Offboarding
from bot.db.session import make_sessionmaker
from bot.demo.fake_slack import FakeSlack
from bot.domain.clock import ManualClock
from bot.domain.states import ENV_LIVE
from bot.environments.workflow import ENVIRONMENTS
from bot.policy import Policy
from bot.server import HttpServer, make_wsgi_app
from bot.slack.directory import SlackDirectory
from bot.slack.ports import UserInfo
from bot.wiring import Runtime, build_runtime
from provisioning.base import AccessBackend, EnvironmentBackend
from tests.scenario.conftest import (
    JOBS,
    SECRET,
    RuntimeFactory,
    SlackClient,
    message_text,
    wait_for,
)

NAMES = ("one", "two", "three")


class Crash(BaseException):
    """The process dying at this point: nothing after it runs, nothing catches it."""


class CrashingDirectory(SlackDirectory):
    """The real directory on the fake Slack, except that the `crash_at`-th user lookup after
    `arm()` kills the process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash_at = 0
        self.calls = 0

    def arm(self, crash_at: int) -> None:
        self.crash_at, self.calls = crash_at, 0

    def user(self, user_id: str) -> UserInfo:
        self.calls += 1
        if self.crash_at and self.calls == self.crash_at:
            raise Crash
        return super().user(user_id)


class World:
    def __init__(
        self, runtime: Runtime, http: SlackClient, slack: FakeSlack, clock: ManualClock
    ) -> None:
        self.runtime, self.http, self.slack, self.clock = runtime, http, slack, clock
        self.sessions: sessionmaker[Session] = runtime.services.sessions

    def envs(self) -> dict[str, Environment]:
        with self.sessions() as s:
            return {e.name: e for e in s.scalars(select(Environment))}

    def owners(self) -> dict[str, str]:
        return {name: env.owner_id for name, env in self.envs().items()}

    def events(self, object_type: str, action: str) -> list[Event]:
        with self.sessions() as s:
            return list(
                s.scalars(
                    select(Event)
                    .where(Event.object_type == object_type, Event.action == action)
                    .order_by(Event.id)
                )
            )

    def handover_dms(self, user: str) -> list[str]:
        uid = self.slack.user_id(user)
        return [
            message_text(m.text, m.blocks)
            for m in self.slack.visible_messages(uid)
            if m.dm_user == uid and "was deactivated" in m.text
        ]

    def deactivate(self, user: str) -> None:
        found = self.slack.deactivate_user(user)
        event = {"type": "user_change", "user": {"id": found.id, "name": user, "deleted": True}}
        assert self.http.event(event, "Ev0FFB0ARD").status_code == 200
        # the listener runs after the ack: wait until it has committed the offboarding
        wait_for(lambda: self._offboarding(found.id), what="the offboarding row")

    def _offboarding(self, user_id: str) -> Offboarding | None:
        with self.sessions() as s:
            return s.get(Offboarding, user_id)


@pytest.fixture
def directory(fake_slack: FakeSlack) -> CrashingDirectory:
    return CrashingDirectory(fake_slack.web_client(), ttl=0)


@pytest.fixture
def world(
    policy: Policy,
    database_url: str,
    engine: Engine,
    fake_slack: FakeSlack,
    clock: ManualClock,
    env_backends: dict[str, EnvironmentBackend],
    access_backends: dict[str, AccessBackend],
    directory: CrashingDirectory,
) -> Iterator[World]:
    """alice owns three live (provisioning) environments in the sandbox workspace (bob owns
    it); the jobs run only when the test steps them (no wake thread), so a crash happens in
    the test's thread."""
    runtime = build_runtime(
        policy=policy,
        database_url=database_url,
        client=fake_slack.web_client(),
        directory=directory,
        signing_secret=SECRET,
        clock=clock,
        env_backends=env_backends,
        access_backends=access_backends,
        job_settings=JOBS,
    )
    server = HttpServer(make_wsgi_app(runtime.app), "127.0.0.1", 0).start()
    http = SlackClient(server.url, fake_slack, clock, settle=runtime.app.intake.wait_idle)
    world = World(runtime, http, fake_slack, clock)
    for template, name in (("sandbox", "one"), ("sandbox", "two"), ("dev", "three")):
        # acked, then run by a worker (its answer waits in the outbox for the stepped drain)
        assert world.http.command("alice", "/env", f"create {template} {name}").status_code == 200
        clock.set(clock.now() + timedelta(seconds=1))  # a distinct created_at: a known order
    runtime.jobs.advance(clock, timedelta(minutes=1))
    assert {e.state for e in world.envs().values()} <= ENV_LIVE
    yield world
    server.stop()
    runtime.close()


def _run_all(runtime: Runtime, clock: ManualClock, span: timedelta) -> None:
    """The jobs over `span` (past the first backoff), then five seconds of drain (it sends
    one message a second per channel)."""
    runtime.jobs.advance(clock, span)
    for _ in range(5):
        runtime.jobs.advance(clock, timedelta(seconds=1))


def test_a_slack_fault_on_one_heir_lookup_is_retried_and_stops_no_other(
    world: World, fake_slack: FakeSlack
) -> None:
    # setup: users.info answers 500 twice (the call and its quick retry): the first lookup fails
    alice, bob = fake_slack.user_id("alice"), fake_slack.user_id("bob")
    fake_slack.fail_next("users.info", status=500, count=2)

    # execution
    world.deactivate("alice")
    world.runtime.jobs.run_woken()
    after_first = world.owners()
    _run_all(world.runtime, world.clock, timedelta(minutes=1))

    # validating: the others went at once, the first one at the retry after the backoff
    assert after_first == {"one": alice, "two": bob, "three": bob}
    assert world.owners() == {"one": bob, "two": bob, "three": bob}
    assert [e.action for e in world.events("user", "offboard-retry")] == ["offboard-retry"]
    assert len(world.events("user", "offboarded")) == 1
    assert sorted(len([d for d in world.handover_dms("bob") if f"`{n}`" in d]) for n in NAMES) == [
        1,
        1,
        1,
    ]


def test_a_crash_between_environments_is_resumed_once(
    world: World,
    fake_slack: FakeSlack,
    directory: CrashingDirectory,
    make_runtime: RuntimeFactory,
) -> None:
    # setup: the first heir lookup fails (users.info 500 twice), the second succeeds, the
    # third lookup kills the process: "two" is handed over and committed, "three" is not
    alice, bob = fake_slack.user_id("alice"), fake_slack.user_id("bob")
    fake_slack.fail_next("users.info", status=500, count=2)
    directory.arm(crash_at=3)

    # execution: the event, the crashing run, then a new process on the same database
    world.deactivate("alice")
    with pytest.raises(Crash):
        world.runtime.jobs.run_woken()
    at_crash = world.owners()
    world.runtime.close()  # the dead process's connections end (on PostgreSQL: the jobs' lock)
    restarted = make_runtime()
    _run_all(restarted, world.clock, timedelta(minutes=1))

    # validating: each environment handed over once, announced once, audited once
    assert at_crash == {"one": alice, "two": bob, "three": alice}
    assert world.owners() == {"one": bob, "two": bob, "three": bob}
    handovers = world.events(ENVIRONMENTS.kind, "offboard")
    assert sorted(e.object_id for e in handovers) == sorted(e.id for e in world.envs().values())
    dms = world.handover_dms("bob")
    assert [len([d for d in dms if f"`{n}`" in d]) for n in NAMES] == [1, 1, 1]
    with make_sessionmaker(restarted.engine)() as s:
        row = s.get(Offboarding, alice)
    assert row is not None
    assert row.done_at is not None
    assert row.due_at is None
