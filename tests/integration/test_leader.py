"""Job leader election: one PostgreSQL advisory lock across replicas; failover when it dies."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from bot.db.session import make_engine
from bot.jobs import Job, JobRunner
from bot.leader import PostgresAdvisoryLeader, SqliteLeader, choose_leader


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
    """Two electors on two engines, as two replicas would have; they check on every call."""
    engines = [make_engine(database_url), make_engine(database_url)]
    electors = [PostgresAdvisoryLeader(e, key, check_interval=0) for e in engines]
    yield electors
    for elector, eng in zip(electors, engines, strict=True):
        elector.close()
        eng.dispose()


def _holder_pid(engine: Engine, key: int) -> int | None:
    query = text("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = :k AND granted")
    with engine.connect() as conn:
        return conn.execute(query, {"k": key}).scalar()


def _kill_holder(engine: Engine, key: int) -> None:
    """pg_terminate_backend the lock holder, then wait until the server has released the lock."""
    pid = _holder_pid(engine, key)
    assert pid is not None
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    for _ in range(500):  # the backend exits asynchronously; this waits for the server only
        if _holder_pid(engine, key) is None:
            return
        time.sleep(0.01)
    raise AssertionError("the terminated backend still holds the lock")


def test_exactly_one_of_two_replicas_leads(replicas: list[PostgresAdvisoryLeader]) -> None:
    a, b = replicas
    assert [a.is_leader(), b.is_leader()] == [True, False]
    assert [a.is_leader(), b.is_leader()] == [True, False]  # stable while nothing changes


def test_killing_the_leaders_connection_hands_over_at_the_next_check(
    replicas: list[PostgresAdvisoryLeader], pg: Engine, key: int
) -> None:
    # setup
    a, b = replicas
    assert a.is_leader()
    assert not b.is_leader()
    # execution
    _kill_holder(pg, key)
    # validating: the old leader notices at its next check, the other takes over at its next try
    assert not a.is_leader()
    assert b.is_leader()
    assert not a.is_leader()  # it retries, but the lock is b's now


def test_closing_the_leader_hands_over(replicas: list[PostgresAdvisoryLeader]) -> None:
    a, b = replicas
    assert a.is_leader()
    assert not b.is_leader()
    a.close()
    assert b.is_leader()
    assert not a.is_leader()


def test_the_check_interval_answers_from_memory(pg: Engine, key: int) -> None:
    now = [0.0]
    elector = PostgresAdvisoryLeader(pg, key, check_interval=5, monotonic=lambda: now[0])
    try:
        assert elector.is_leader()
        _kill_holder(pg, key)
        assert elector.is_leader()  # not re-checked yet: the window fencing-free jobs tolerate
        now[0] = 5.0
        assert not elector.is_leader()
    finally:
        elector.close()


class _CountingJob:
    """A job that counts its runs and how many run at once."""

    def __init__(self) -> None:
        self.runs = 0
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        time.sleep(0.001)  # widen the window in which an overlap would show
        with self._lock:
            self.active -= 1
            self.runs += 1


def test_two_gated_runners_run_the_job_n_times_never_both(
    replicas: list[PostgresAdvisoryLeader],
) -> None:
    # setup: two replicas' runners share one job (the database, in real life)
    job = _CountingJob()
    runners = [JobRunner([Job("count", timedelta(seconds=1), job)], leader=e) for e in replicas]
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
    # validating
    assert job.runs == n
    assert job.max_active == 1


def test_runs_continue_on_the_other_replica_after_the_leader_dies(
    replicas: list[PostgresAdvisoryLeader], pg: Engine, key: int
) -> None:
    job = _CountingJob()
    a, b = (JobRunner([Job("count", timedelta(seconds=1), job)], leader=e) for e in replicas)
    n = 20
    per_runner = [0, 0]
    for i in range(n):
        if i == n // 2:
            _kill_holder(pg, key)
        for idx, runner in enumerate((a, b)):
            before = job.runs
            runner.run_all()
            per_runner[idx] += job.runs - before
    assert job.runs == n
    assert per_runner == [n // 2, n - n // 2]


def test_sqlite_always_leads(engine: Engine) -> None:
    elector = choose_leader(engine)
    if engine.dialect.name == "postgresql":
        assert isinstance(elector, PostgresAdvisoryLeader)
    else:
        assert isinstance(elector, SqliteLeader)
        assert elector.is_leader()
    elector.close()
