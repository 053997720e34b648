"""Job leader election: one PostgreSQL advisory lock across replicas, kept as a lease; failover
after a kill, a close, or a leader cut off behind a relay that stops without closing."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from bot.db.session import make_engine
from bot.jobs import Job, JobRunner
from bot.leader import (
    PostgresAdvisoryLeader,
    SqliteLeader,
    application_name,
    choose_leader,
)
from tests.relay import Relay

LEASE = 2.0  # the failover tests: short, so they finish in seconds
TICKED_LEASE = 4.0  # the hand-ticked pairs: long enough that a slow machine never loses it


@pytest.fixture
def pg(engine: Engine) -> Engine:
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks need PostgreSQL; set ENVBOT_TEST_DATABASE_URL (scripts/test)")
    return engine


@pytest.fixture
def key() -> int:
    return secrets.randbelow(2**31 - 1) + 1  # below 2**31: pg_locks shows it as objid


@pytest.fixture
def replicas(pg: Engine, database_url: str, key: int) -> Iterator[list[PostgresAdvisoryLeader]]:
    """Two electors on two engines, as two replicas would have; ticked by hand."""
    engines = [make_engine(database_url), make_engine(database_url)]
    electors = [PostgresAdvisoryLeader(e, key, lease=TICKED_LEASE) for e in engines]
    yield electors
    for elector, eng in zip(electors, engines, strict=True):
        elector.close()
        eng.dispose()


@pytest.fixture
def relay(pg: Engine, database_url: str) -> Iterator[tuple[Relay, str]]:
    relay, url = Relay.to_url(database_url)
    yield relay, url
    relay.close()


def _holder_pid(engine: Engine, key: int) -> int | None:
    query = text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = :k AND granted")
    with engine.connect() as conn:
        return conn.execute(query, {"k": key}).scalar()


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until `predicate()`; returns the seconds it took."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)
    return time.monotonic() - start


def _kill_holder(engine: Engine, key: int) -> None:
    """pg_terminate_backend the lock holder, then wait until the server has released the lock."""
    pid = _holder_pid(engine, key)
    assert pid is not None
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    _wait(lambda: _holder_pid(engine, key) is None, 5, "the terminated backend to let go")


def test_exactly_one_of_two_replicas_leads(replicas: list[PostgresAdvisoryLeader]) -> None:
    a, b = replicas
    assert [a.is_leader(), b.is_leader()] == [True, False]
    a.tick()
    b.tick()
    assert [a.is_leader(), b.is_leader()] == [True, False]  # stable while nothing changes


def test_the_lock_session_is_named_and_bounded(
    replicas: list[PostgresAdvisoryLeader], pg: Engine, key: int
) -> None:
    # the server itself ends a silent session: that is what frees the lock of a vanished host
    a, _ = replicas
    assert a.is_leader()
    pid = _holder_pid(pg, key)
    with pg.connect() as conn:
        name = conn.execute(
            text("SELECT application_name FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
        ).scalar_one()
    assert name == application_name()
    _wait(lambda: _holder_pid(pg, key) is None, TICKED_LEASE, "idle_session_timeout to end it")
    assert not a.is_fresh_holder()  # silent for more than lease/3: it stopped leading first
    assert a.is_leader()  # its next tick finds the session gone and, the lock free, retakes it
    assert _holder_pid(pg, key) is not None


def test_killing_the_leaders_connection_hands_over_at_the_next_tick(
    replicas: list[PostgresAdvisoryLeader], pg: Engine, key: int
) -> None:
    # setup
    a, b = replicas
    assert a.is_leader()
    assert not b.is_leader()
    # execution
    _kill_holder(pg, key)
    b.tick()
    a.tick()
    # validating: the other takes over at its next try, the old leader notices at its next tick
    assert b.is_leader()
    assert not a.is_leader()  # it retried at once, but the lock is b's now


def test_a_leader_whose_session_ended_retakes_a_free_lock_in_the_same_tick(
    replicas: list[PostgresAdvisoryLeader], pg: Engine, key: int
) -> None:
    a, b = replicas
    assert a.is_leader()
    _kill_holder(pg, key)
    a.tick()  # the heartbeat fails; a new session takes the free lock at once: no gap
    assert a.is_fresh_holder()
    b.tick()
    assert not b.is_leader()


def test_closing_the_leader_hands_over(replicas: list[PostgresAdvisoryLeader]) -> None:
    a, b = replicas
    assert a.is_leader()
    assert not b.is_leader()
    a.close()
    b.tick()
    assert b.is_leader()
    assert not a.is_leader()


def test_a_leader_trusts_a_heartbeat_for_a_third_of_the_lease(pg: Engine, key: int) -> None:
    now = [0.0]
    elector = PostgresAdvisoryLeader(pg, key, lease=6, monotonic=lambda: now[0])
    try:
        assert elector.is_leader()
        now[0] = 1.9
        assert elector.is_fresh_holder()  # from memory: the heartbeat sent at 0 still counts
        now[0] = 2.0
        assert not elector.is_fresh_holder()  # lease/3 without a good heartbeat: stop leading
        elector.tick()  # a good heartbeat sent at 2.0
        assert elector.is_fresh_holder()
    finally:
        elector.close()


def test_the_lease_must_be_positive(pg: Engine) -> None:
    with pytest.raises(ValueError, match="positive"):
        PostgresAdvisoryLeader(pg, lease=0)


class _CountingJob:
    """A job that counts its runs, which replica ran each, and how many ran at once."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, float]] = []
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def on(self, name: str) -> Callable[[], None]:
        def run() -> None:
            with self._lock:
                self.active += 1
                self.max_active = max(self.max_active, self.active)
            time.sleep(0.001)  # widen the window in which an overlap would show
            with self._lock:
                self.active -= 1
                self.runs.append((name, time.monotonic()))

        return run


def test_two_gated_runners_run_the_job_n_times_never_both(
    replicas: list[PostgresAdvisoryLeader],
) -> None:
    # setup: two replicas' runners share one job (the database, in real life)
    job = _CountingJob()
    runners = [
        JobRunner([Job("count", timedelta(seconds=1), job.on(n))], leader=e)
        for n, e in zip("ab", replicas, strict=True)
    ]
    n = 50
    start = threading.Barrier(2)

    def loop(runner: JobRunner) -> None:
        start.wait()
        for _ in range(n):
            runner.run_all()

    threads = [threading.Thread(target=loop, args=(r,)) for r in runners]
    # execution
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # validating: one replica ran every pass, the other none
    assert len(job.runs) == n
    assert len({name for name, _ in job.runs}) == 1
    assert job.max_active == 1


def test_a_leader_cut_off_behind_a_frozen_relay_is_replaced_within_the_lease(
    pg: Engine, key: int, relay: tuple[Relay, str], database_url: str
) -> None:
    # setup: replica a reaches PostgreSQL through the relay, b directly; both keep their lease
    # in the background and run a counting job as fast as they can
    cut, relayed_url = relay
    engines = [make_engine(relayed_url), make_engine(database_url)]
    a, b = (PostgresAdvisoryLeader(e, key, lease=LEASE) for e in engines)
    job = _CountingJob()
    runners = {
        "a": JobRunner([Job("count", timedelta(seconds=1), job.on("a"))], leader=a),
        "b": JobRunner([Job("count", timedelta(seconds=1), job.on("b"))], leader=b),
    }
    stop = threading.Event()

    def loop(runner: JobRunner) -> None:
        while not stop.is_set():
            runner.run_all()
            time.sleep(0.005)

    a.start()
    _wait(a.is_leader, LEASE, "a to lead")
    b.start()
    threads = [threading.Thread(target=loop, args=(r,), daemon=True) for r in runners.values()]
    for t in threads:
        t.start()
    lost: list[float] = []
    took: list[float] = []
    try:
        _wait(lambda: len(job.runs) > 20, 5, "a to run the job")
        # execution: a's host vanishes; nothing is closed
        frozen_at = time.monotonic()
        cut.freeze()
        threading.Thread(
            target=lambda: lost.append(frozen_at + _wait(lambda: not a.is_leader(), 10, "a")),
            daemon=True,
        ).start()
        took.append(frozen_at + _wait(b.is_leader, 2 * LEASE, "b to take over"))
        _wait(lambda: bool(lost), 1, "a to have stopped")
        _wait(lambda: sum(1 for n, _ in job.runs if n == "b") > 20, 5, "b to run the job")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=5)
        b.close()
        a.close()
        for eng in engines:
            eng.dispose()
    # validating: takeover within the lease; a stopped before b started; no run by both
    assert took[0] - frozen_at <= LEASE
    assert lost[0] <= took[0]
    names = [name for name, _ in job.runs]
    switch = names.index("b")
    assert set(names[:switch]) == {"a"}
    assert set(names[switch:]) == {"b"}
    first_b = job.runs[switch][1]
    assert all(at < first_b for name, at in job.runs if name == "a")
    assert job.max_active == 1


def test_sqlite_always_leads(engine: Engine) -> None:
    elector = choose_leader(engine)
    if engine.dialect.name == "postgresql":
        assert isinstance(elector, PostgresAdvisoryLeader)
    else:
        assert isinstance(elector, SqliteLeader)
        assert elector.is_leader()
    elector.close()


def test_a_frozen_leader_that_wakes_up_after_the_takeover_runs_nothing(
    pg: Engine, key: int, database_url: str, tmp_path: Path
) -> None:
    # setup: the leader is a child process running a gated job; the standby is here
    runs = tmp_path / "runs.log"
    module = "tests.integration.leader_child"
    child = subprocess.Popen(
        [sys.executable, "-m", module, database_url, str(key), str(LEASE), str(runs)],
        cwd=Path(__file__).resolve().parents[2],
    )
    engine = make_engine(database_url)
    standby = PostgresAdvisoryLeader(engine, key, lease=LEASE)
    try:
        _wait(lambda: runs.exists() and "run" in runs.read_text(), 60, "the child to run jobs")
        standby.start()
        # execution: the leader's VM is frozen (SIGSTOP), the standby takes over, it thaws
        stopped_at = time.monotonic()
        os.kill(child.pid, signal.SIGSTOP)
        took = _wait(standby.is_leader, 2 * LEASE, "the standby to take over")
        time.sleep(LEASE / 3)
        thawed_at = time.monotonic()
        os.kill(child.pid, signal.SIGCONT)
        time.sleep(LEASE)
    finally:
        child.kill()
        child.wait()
        leads_after = standby.is_leader()
        standby.close()
        engine.dispose()
    # validating: takeover within the lease; after waking the old leader started no job (a run
    # caught by SIGSTOP between its leader check and its first line, a few microseconds of every
    # 5 ms loop, would show as one line at the thaw)
    assert took <= LEASE
    times = [float(line.split()[1]) for line in runs.read_text().splitlines()]
    after = [t for t in times if t > stopped_at]
    assert after == [] or (len(after) == 1 and thawed_at <= after[0] < thawed_at + 0.05)
    assert leads_after


class _OldServerLeader(PostgresAdvisoryLeader):
    """As on PostgreSQL 13: the server does not know the idle setting the lease relies on."""

    IDLE_SETTING = "envbot_no_such_setting"


def test_a_server_without_idle_session_timeout_still_elects_and_says_so(
    pg: Engine, key: int, caplog: pytest.LogCaptureFixture
) -> None:
    elector = _OldServerLeader(pg, key, lease=LEASE)
    try:
        assert elector.is_leader()
        assert _holder_pid(pg, key) is not None
    finally:
        elector.close()
    assert "Upgrade PostgreSQL to 14 or later" in caplog.text
