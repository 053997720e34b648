"""The stepped runner's data-version probe sees every commit, on SQLite and PostgreSQL, and the
runner asks a job's `next_due` again exactly when something was committed."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from bot.db.version import data_version
from bot.domain.clock import ManualClock
from bot.jobs import Job, JobRunner

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _write(engine: Engine, key: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO inbound (key, received_at) VALUES (:key, :at)"),
            {"key": key, "at": START},
        )
        conn.execute(text("DELETE FROM inbound WHERE key = :key"), {"key": key})


def test_the_probe_changes_with_every_commit_and_only_then(engine: Engine) -> None:
    # setup
    probe = data_version(engine)
    assert probe is not None
    try:
        before = probe()

        # execution: reads change nothing; a commit from another connection or thread does
        with engine.connect() as conn:
            conn.execute(text("SELECT count(*) FROM inbound")).scalar_one()
        after_read = probe()
        _write(engine, "probe-1")
        after_commit = probe()
        thread = threading.Thread(target=_write, args=(engine, "probe-2"))
        thread.start()
        thread.join()
        after_thread = probe()

        # validating
        assert after_read == before
        assert after_commit != before
        assert after_thread != after_commit
    finally:
        probe.close()


def test_step_asks_next_due_again_only_after_a_commit(engine: Engine) -> None:
    # setup: one job with work at +5 s; its next_due counts the times it is asked
    clock = ManualClock(START)
    work = [START + timedelta(seconds=5)]
    runs: list[datetime] = []
    asked: list[datetime] = []

    def run() -> None:
        runs.append(clock.now())
        if work and work[0] <= clock.now():
            work.pop(0)
            _write(engine, "job-did-work")  # doing the work commits, as every job's does

    def next_due(now: datetime) -> datetime | None:
        asked.append(now)
        return work[0] if work else None

    probe = data_version(engine)
    runner = JobRunner([Job("j", timedelta(seconds=30), run, next_due=next_due)], version=probe)
    try:
        # execution: ten simulated seconds
        runner.step(clock, 10)
        asked_in_quiet_stretch = list(asked)
        # a commit outside the jobs (a command) makes the next step ask again
        _write(engine, "a-command")
        runner.step(clock, 2)
    finally:
        if probe is not None:
            probe.close()

    # validating: it runs at the first second and when its work is due, not in between;
    # next_due was asked once before the work (then kept) and once after the work committed
    assert runs[:2] == [START + timedelta(seconds=1), START + timedelta(seconds=5)]
    assert runs[2:] == [START + timedelta(seconds=11)]
    assert asked_in_quiet_stretch == [START + timedelta(seconds=2), START + timedelta(seconds=6)]
    assert asked[2:] == [START + timedelta(seconds=12)]


def test_without_a_probe_next_due_is_asked_every_second() -> None:
    # setup
    clock = ManualClock(START)
    asked: list[datetime] = []

    def next_due(now: datetime) -> datetime | None:
        asked.append(now)
        return None

    runner = JobRunner([Job("j", timedelta(seconds=30), lambda: None, next_due=next_due)])

    # execution
    runner.step(clock, 4)

    # validating
    assert asked == [START + timedelta(seconds=s) for s in (2, 3, 4)]
