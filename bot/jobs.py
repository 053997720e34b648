"""The background jobs, run by APScheduler 3.x in production and stepped by hand in the demo.

Jobs are idempotent and level-triggered: each reads what is due from the database and takes
`now` from the Clock, so running one twice, late, or on another replica changes nothing.
With a `LeaderElector`, only the leading replica runs them; the others skip each run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from bot.domain.clock import ManualClock
from bot.leader import LeaderElector

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """A named job and how often it runs; `on_wake` jobs also run as soon as a decision or
    command wakes the runner (they apply what was just committed)."""

    name: str
    interval: timedelta
    run: Callable[[], object]
    on_wake: bool = False


class Wakeup:
    """The `Wake` that services receive: a flag the runner's wake thread waits on."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def wake(self) -> None:
        """Ask the runner to run its `on_wake` jobs now; never blocks."""
        self.event.set()


def run_safely(job: Job, leader: LeaderElector | None = None) -> None:
    """Run one job unless another replica leads; a failure is logged (the job-loop boundary).

    Args:
        job: the job to run.
        leader: when given, the run is skipped unless `leader.is_leader()`.
    """
    try:
        if leader is not None and not leader.is_leader():
            logger.debug("job %s skipped: another replica leads", job.name)
            return
        job.run()
    except Exception:  # the job-loop boundary: log and keep the scheduler alive
        logger.exception("job %s failed; it runs again at its next interval", job.name)


class JobRunner:
    """Runs a fixed set of jobs, in the given order; only on the leader when given one.

    A job never runs twice at once: the scheduler's tick and a wake share one lock per job.
    """

    def __init__(
        self,
        jobs: Sequence[Job],
        leader: LeaderElector | None = None,
        wakeup: Wakeup | None = None,
    ) -> None:
        self.jobs = tuple(jobs)
        self.leader = leader
        self.wakeup = wakeup or Wakeup()
        self._locks = {job.name: threading.Lock() for job in self.jobs}
        self._stopping = threading.Event()

    def run(self, job: Job) -> None:
        """Run one job now, after any run of it already under way."""
        with self._locks[job.name]:
            run_safely(job, self.leader)

    def run_all(self) -> None:
        """Run every job once, now (the demo does this after each line)."""
        for job in self.jobs:
            self.run(job)

    def run_woken(self) -> None:
        """Run the jobs that apply what a decision committed (a wake)."""
        for job in self.jobs:
            if job.on_wake:
                self.run(job)

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
                    self.run(job)
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
                self.run,
                "interval",
                args=[job],
                id=job.name,
                seconds=job.interval.total_seconds(),
            )
        scheduler.start()
        self.start_waking()
        return scheduler

    def start_waking(self) -> None:
        """Start the thread that runs the `on_wake` jobs whenever a service wakes the runner."""
        self._stopping.clear()
        threading.Thread(target=self._wake_loop, name="envbot-wake", daemon=True).start()

    def stop(self) -> None:
        """Stop the wake thread (the scheduler is shut down by its owner)."""
        self._stopping.set()
        self.wakeup.event.set()

    def _wake_loop(self) -> None:
        """Run the `on_wake` jobs whenever a service wakes the runner."""
        while not self._stopping.is_set():
            self.wakeup.event.wait()
            self.wakeup.event.clear()
            if not self._stopping.is_set():
                self.run_woken()
