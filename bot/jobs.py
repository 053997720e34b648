"""The background jobs, run by APScheduler 3.x in production and stepped by hand in the demo.

Jobs are idempotent and level-triggered: each reads what is due from the database and takes
`now` from the Clock, so running one twice, late, or on another replica changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from bot.domain.clock import ManualClock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A named job and how often it runs."""

    name: str
    interval: timedelta
    run: Callable[[], object]


def run_safely(job: Job) -> None:
    """Run one job; a failure is logged and the next run tries again (the job-loop boundary)."""
    try:
        job.run()
    except Exception:  # the job-loop boundary: log and keep the scheduler alive
        logger.exception("job %s failed; it runs again at its next interval", job.name)


class JobRunner:
    """Runs a fixed set of jobs, in the given order."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = tuple(jobs)

    def run_all(self) -> None:
        """Run every job once, now (the demo does this after each line)."""
        for job in self.jobs:
            run_safely(job)

    def advance(self, clock: ManualClock, delta: timedelta) -> None:
        """Move a manual clock forward, running every job at each moment it would have run."""
        end = clock.now() + delta
        start = clock.now()
        due: dict[str, datetime] = {j.name: start + j.interval for j in self.jobs}
        while True:
            moment = min(due.values())
            if moment > end:
                break
            clock.set(moment)
            for job in self.jobs:
                if due[job.name] == moment:
                    run_safely(job)
                    due[job.name] = moment + job.interval
        clock.set(end)
        self.run_all()

    def start_background(self) -> BackgroundScheduler:
        """Start APScheduler with one interval job each (coalesced, never overlapping)."""
        scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
        )
        for job in self.jobs:
            scheduler.add_job(
                run_safely,
                "interval",
                args=[job],
                id=job.name,
                seconds=job.interval.total_seconds(),
            )
        scheduler.start()
        return scheduler
