"""Job logs carry the job's name (ours and APScheduler's), and APScheduler's per-run INFO lines
are off: the outbox alone would log two a second."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.jobs import Job, JobRunner
from bot.logs import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    scheduler = logging.getLogger("apscheduler")
    saved = (root.handlers[:], root.level, scheduler.level)
    yield
    root.handlers[:], level, scheduler_level = saved
    root.setLevel(level)
    scheduler.setLevel(scheduler_level)


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_apscheduler_logs_only_warnings(restore_logging: None, level: str) -> None:
    configure_logging(level)
    executor = logging.getLogger("apscheduler.executors.default")  # "Running job ..." lines
    assert not executor.isEnabledFor(logging.INFO)
    assert executor.isEnabledFor(logging.WARNING)  # a missed run is still said
    assert logging.getLogger("bot.jobs").isEnabledFor(logging.getLevelName(level))


def test_scheduled_jobs_carry_their_names(caplog: pytest.LogCaptureFixture) -> None:
    # setup: one job that fails once, so its failure is logged
    ran = threading.Event()

    def fail() -> None:
        ran.set()
        raise RuntimeError("boom")

    runner = JobRunner([Job("outbox", timedelta(seconds=3600), fail)])

    # execution
    scheduler = runner.start_background()
    try:
        names = [job.name for job in scheduler.get_jobs()]
        runner.run(runner.jobs[0])
    finally:
        scheduler.shutdown(wait=True)
        runner.stop()

    # validating
    assert ran.is_set()
    assert names == ["outbox"]  # APScheduler's lines name the job, not JobRunner.run
    failures = [r for r in caplog.records if r.name == "bot.jobs"]
    assert [(r.getMessage(), getattr(r, "job", None)) for r in failures] == [
        ("job outbox failed; it runs again at its next interval", "outbox")
    ]
