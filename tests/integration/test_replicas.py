"""Two real `envbot serve` processes on one PostgreSQL: both answer, one runs the jobs, and the
other takes over within the lease after `kill -9` or a cut-off behind a frozen relay. SIGTERM
drains: what was acknowledged is processed, the lock is released, the exit code is 0."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_api import Params
from bot.leader import JOBS_LOCK_KEY
from tests.integration.serve_process import Serve, lock_holder_pid
from tests.relay import Relay

LEASE = 2.0
SETTINGS = {"ENVBOT_JOBS__LEADER_LEASE": str(LEASE), "ENVBOT_JOBS__OUTBOX_INTERVAL": "0.2"}


class SlowSlack(FakeSlack):
    """The fake Slack, with `users.info` taking `delay` seconds (work still under way)."""

    delay = 0.0

    def handle_api(
        self, method: str, params: Params, token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if method == "users.info":
            time.sleep(self.delay)
        return super().handle_api(method, params, token)


@pytest.fixture
def slack() -> Iterator[SlowSlack]:
    fake = SlowSlack()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def serves(database_url: str, slack: FakeSlack, tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def start(name: str, url: str = database_url, **settings: str) -> Serve:
        serve = Serve(url, slack, tmp_path / f"{name}.log", **{**SETTINGS, **settings})
        started.append(serve)
        return serve

    yield start
    for serve in started:
        serve.stop()


def _pg(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("replicas need PostgreSQL; set ENVBOT_TEST_DATABASE_URL (scripts/test)")
    return engine


def _wait_holder(engine: Engine, pid: int, timeout: float) -> float:
    """Seconds until the process `pid` holds the jobs lock; fails after `timeout`."""
    start = time.monotonic()
    while lock_holder_pid(engine, JOBS_LOCK_KEY) != pid:
        if time.monotonic() - start > timeout:
            raise AssertionError(f"pid {pid} did not take the jobs lock in {timeout}s")
        time.sleep(0.02)
    return time.monotonic() - start


def _answers(slack: FakeSlack, serve: Serve) -> None:
    """`/env help` on `serve` is acknowledged and answered (in the ack body when the answer is
    ready within its 2 s budget, as it usually is, else through the response_url)."""
    before = len(slack.calls_to("response_url"))
    ack = serve.command("alice", "/env", "help")
    assert ack.status_code == 200
    if ack.text.strip():
        return
    deadline = time.monotonic() + 10
    while len(slack.calls_to("response_url")) == before:
        assert time.monotonic() < deadline, f"no answer from {serve.url}"
        time.sleep(0.02)


def _two_replicas(
    engine: Engine, serves: Callable[..., Serve], slack: FakeSlack, first_url: str | None = None
) -> tuple[Serve, Serve]:
    a = serves("a", first_url) if first_url else serves("a")
    a.wait_ready()
    _wait_holder(engine, a.pid, 10)  # its first connection, on a loaded machine
    b = serves("b")
    b.wait_ready()
    for serve in (a, b):
        _answers(slack, serve)
    assert lock_holder_pid(engine, JOBS_LOCK_KEY) == a.pid  # b stands by
    return a, b


def test_after_kill_9_of_the_leader_the_other_takes_over_within_the_lease(
    engine: Engine, serves: Callable[..., Serve], slack: FakeSlack
) -> None:
    pg = _pg(engine)
    a, b = _two_replicas(pg, serves, slack)
    a.signal(signal.SIGKILL)
    assert _wait_holder(pg, b.pid, LEASE) <= LEASE
    _answers(slack, b)
    assert "took the jobs lock" in b.log()


def test_a_leader_cut_off_behind_a_frozen_relay_is_replaced_within_the_lease(
    engine: Engine, serves: Callable[..., Serve], slack: FakeSlack, database_url: str
) -> None:
    pg = _pg(engine)
    relay, relayed = Relay.to_url(database_url)
    try:
        a, b = _two_replicas(pg, serves, slack, first_url=relayed)
        relay.freeze()  # a's host is gone for PostgreSQL: no FIN, no RST, no answers
        assert _wait_holder(pg, b.pid, LEASE) <= LEASE
        # a stopped leading on its own: it stopped trusting its lease lease/3 after its last
        # heartbeat (before the server could drop it), and says so once its stuck heartbeat is
        # cut; the line may come a little after b took over on a loaded machine
        deadline = time.monotonic() + 2 * LEASE
        while "lost the jobs lock" not in a.log():
            assert time.monotonic() < deadline, a.log()
            time.sleep(0.05)
        _answers(slack, b)
    finally:
        for serve in (a, b):
            serve.stop()
        relay.close()


def test_sigterm_processes_what_was_acknowledged_releases_the_lock_and_exits_0(
    engine: Engine, serves: Callable[..., Serve], slack: SlowSlack
) -> None:
    # setup: Slack answers users.info slowly (past the 2 s ack budget), so the command is still
    # being worked on after its empty ack when the signal comes, and its answer must go to the
    # response_url during the drain; /readyz is watched during a 1 s shutdown delay
    serve = serves("a", ENVBOT_SHUTDOWN_DELAY="1")
    serve.wait_ready()
    slack.delay = 2.5
    # execution
    ack = serve.command("alice", "/env", "create dev drained")
    assert ack.status_code == 200
    assert not ack.text.strip()  # the answer was not ready within the budget
    serve.signal(signal.SIGTERM)
    deadline = time.monotonic() + 5
    while serve.readyz() != 503:  # not ready at once, while still serving
        assert time.monotonic() < deadline
        time.sleep(0.02)
    code = serve.proc.wait(timeout=30)
    # validating: exit 0, the environment was recorded and the user answered, the lock is free
    assert code == 0, serve.log()
    with engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM environments")).scalars().all()
    assert names == ["drained"]
    assert [c for c in slack.calls_to("response_url") if c.status == 200]
    assert "drained and released" in serve.log()
    if engine.dialect.name == "postgresql":
        assert lock_holder_pid(engine, JOBS_LOCK_KEY) is None
        assert "released the jobs lock" in serve.log()


def test_sigint_drains_the_same_way(
    engine: Engine, serves: Callable[..., Serve], slack: FakeSlack
) -> None:
    serve = serves("a")
    serve.wait_ready()
    _answers(slack, serve)
    serve.signal(signal.SIGINT)
    assert serve.proc.wait(timeout=30) == 0, serve.log()
    assert "SIGINT; not ready any more" in serve.log()
