"""The background jobs, run by APScheduler 3.x in production and stepped by hand in the demo.

Jobs are idempotent and level-triggered: each reads what is due from the database and takes
`now` from the Clock, so running one twice, late, or on another replica changes nothing.
With a `LeaderElector`, only the leading replica runs them; the others skip each run.

A job may say when it next has work (`next_due`); the stepped runner of the demo and the
tests uses that to jump over simulated time in which no job would do anything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from apscheduler.schedulers.background import BackgroundScheduler

from bot.db.version import DataVersion
from bot.domain.clock import ManualClock
from bot.leader import LeaderElector
from bot.lifecycle.wake import in_job

logger = logging.getLogger(__name__)


NextDue = Callable[[datetime], datetime | None]


class Background(Protocol):
    """Work a job's run hands off and does not wait for (the reconcile job's backend calls)."""

    def settle(self) -> None:
        """Wait for what was handed off so far."""
        ...

    def close(self) -> None:
        """Take no more; what runs finishes on its own."""
        ...


@dataclass(frozen=True)
class Job:
    """A named job and how often it runs; `on_wake` jobs also run as soon as a decision or
    command wakes the runner (they apply what was just committed).

    `next_due(now)` is the earliest moment, from `now` on, at which a run may do something if
    nothing else changes meanwhile; None means nothing until something else changes. It may
    be early (a run that finds nothing is harmless) but never late. A job without one is due
    at every tick.

    `background`, if any, is waited for after each run by the stepped runner (`advance`,
    `run_all`, `settle`), so simulated time is deterministic; production never waits for it.
    """

    name: str
    interval: timedelta
    run: Callable[[], object]
    on_wake: bool = False
    next_due: NextDue | None = None
    # A run that keeps looking for new work while it lasts (the lingering outbox drain): a
    # tick or wake that finds it running skips instead of waiting for it.
    skip_if_running: bool = False
    background: Background | None = None


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
        with in_job():
            job.run()
    except Exception:  # the job-loop boundary: log and keep the scheduler alive
        logger.exception(
            "job %s failed; it runs again at its next interval", job.name, extra={"job": job.name}
        )


class JobRunner:
    """Runs a fixed set of jobs, in the given order; only on the leader when given one.

    A job never runs twice at once: the scheduler's tick and a wake share one lock per job.

    `version`, for the stepped runner only, tells whether anything was committed since it was
    last asked: while it stays the same, a job's `next_due` answer is kept rather than asked
    again (it reads only the database and `now`).
    """

    def __init__(
        self,
        jobs: Sequence[Job],
        leader: LeaderElector | None = None,
        wakeup: Wakeup | None = None,
        version: DataVersion | None = None,
    ) -> None:
        self.jobs = tuple(jobs)
        self.leader = leader
        self.wakeup = wakeup or Wakeup()
        self.version = version
        # job name -> (data version, moment asked, answer) of its last `next_due`
        self._due_cache: dict[str, tuple[object, datetime, datetime | None]] = {}
        # the version last read; read again after a run and at each new moment (one probe,
        # not one per job, while no job runs: only a run or another thread commits)
        self._version_seen: object = None
        self._version_stale = True
        self._locks = {job.name: threading.Lock() for job in self.jobs}
        self._stopping = threading.Event()
        self._waker: threading.Thread | None = None
        self._wake_lock = threading.Lock()  # one wake run at a time, or a settle()

    def run(self, job: Job) -> None:
        """Run one job now, after any run of it already under way (or not at all, for a
        `skip_if_running` job: the run under way does the work)."""
        lock = self._locks[job.name]
        if not lock.acquire(blocking=not job.skip_if_running):
            return
        try:
            run_safely(job, self.leader)
        finally:
            lock.release()

    def run_all(self) -> None:
        """Run every job once, now, each after the last one's background work (the demo does
        this after each line), after and before settling the wake thread's runs."""
        self.settle()
        for job in self.jobs:
            self._stepped(job)
        self.settle()

    def run_woken(self, *, stepped: bool = False) -> None:
        """Run the jobs that apply what a decision committed (a wake); `stepped` waits for
        each one's background work."""
        for job in self.jobs:
            if job.on_wake and stepped:
                self._stepped(job)
            elif job.on_wake:
                self.run(job)

    def _stepped(self, job: Job) -> None:
        """Run one job, then wait for its background work (the stepped runner)."""
        self.run(job)
        if job.background is not None:
            job.background.settle()
        self._version_stale = True  # the run may have committed

    def settle(self) -> None:
        """While the wake thread runs, apply a pending wake now, at the clock's current time
        (after any wake run under way, and its background work), so a stepped clock never
        moves under a wake run."""
        if self._waker is None:
            return
        with self._wake_lock:
            if self.wakeup.event.is_set():
                self.wakeup.event.clear()
                self.run_woken(stepped=True)
            # A run the wake thread made does not wait for its background work (a create
            # handed to the reconcile pool): wait for it here, or the clock moves, and a
            # caller reads the rows, while a call is still under way.
            for job in self.jobs:
                if job.on_wake and job.background is not None:
                    job.background.settle()

    def advance(self, clock: ManualClock, delta: timedelta) -> None:
        """Move a manual clock forward, as if each job had run at every tick of its interval.

        A job's ticks are `start + k * interval`, as in the stepping it replaces; the clock
        jumps from one tick at which some job is due (`next_due`) to the next, and at a tick a
        job runs only if it is due then. A run changes what others have to do, so `next_due`
        is asked again after every run; jobs at one tick run in list order. Every job runs at
        its first tick: since the last call something outside the jobs (a command, a test's
        hook on a fake backend) may have changed what it would find, which `next_due` cannot
        see. After that only the jobs and the clock change anything.
        """
        self.settle()
        start = clock.now()
        end = start + delta
        moment = start
        while True:
            self._version_stale = True
            ticks = [t for job in self.jobs if (t := self._next_tick(job, start, moment))]
            if not ticks or min(ticks) > end:
                break
            moment = min(ticks)
            clock.set(moment)
            for job in self.jobs:
                if self._due_at(job, start, moment):
                    self._stepped(job)
        clock.set(end)
        self.run_all()

    def step(self, clock: ManualClock, seconds: int) -> None:
        """Move a manual clock `seconds` seconds forward one second at a time, running every
        job at each second at which it may have work, as if every job ran every second.

        At the first second every job runs (something outside the jobs may have changed what
        they would find); after that a job runs when its `next_due` says it may have work
        (a job without one runs every second). This is what the tests call "the jobs over ten
        seconds": the drain sends one message a second per channel, a retry waits its backoff.
        """
        self.settle()
        for second in range(seconds):
            clock.set(clock.now() + timedelta(seconds=1))
            now = clock.now()
            self._version_stale = True
            for job in self.jobs:
                if second == 0 or self._has_work(job, now):
                    self._stepped(job)

    def _has_work(self, job: Job, now: datetime) -> bool:
        due = self._next_due(job, now)
        return due is not None and due <= now

    def _next_due(self, job: Job, now: datetime) -> datetime | None:
        """`job.next_due(now)`, kept while nothing is committed (see `version`).

        An answer asked at an earlier moment with the same data version still holds at `now`:
        a moment not yet reached is still the earliest, and work that was due is still due,
        since nothing committed its doing. Without a version every call asks the job.
        """
        if job.next_due is None:
            return now
        if self.version is None:
            return job.next_due(now)
        if self._version_stale:
            self._version_seen, self._version_stale = self.version(), False
        version = self._version_seen
        cached = self._due_cache.get(job.name)
        if cached is not None and cached[0] == version and cached[1] <= now:
            return cached[2]
        due = job.next_due(now)
        self._due_cache[job.name] = (version, now, due)
        return due

    def _next_tick(self, job: Job, start: datetime, after: datetime) -> datetime | None:
        """The job's first tick after `after` at which it is due, or None if it never is."""
        first = start + job.interval
        if after < first:
            return first
        due = self._next_due(job, after)
        if due is None:
            return None
        k = max((after - start) // job.interval + 1, -((start - due) // job.interval))
        return start + k * job.interval

    def _due_at(self, job: Job, start: datetime, moment: datetime) -> bool:
        """Whether the job runs at `moment`: one of its ticks, and it has work then."""
        offset = moment - start
        if offset <= timedelta(0) or offset % job.interval:
            return False
        if offset == job.interval or job.next_due is None:
            return True
        return self._has_work(job, moment)

    def start_background(self) -> BackgroundScheduler:
        """Start APScheduler with one interval job each (coalesced, never overlapping).

        Production polls at every interval and ignores `next_due`: Slack, the clusters and
        the cloud change without the database knowing (drift, a backend's progress, another
        replica's work), a pass at real intervals is cheap, and `next_due` exists only so the
        stepped runner can cross simulated days without thousands of empty passes.
        """
        scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
        )
        for job in self.jobs:
            scheduler.add_job(
                self.run,
                "interval",
                args=[job],
                id=job.name,
                name=job.name,  # what APScheduler's own lines call it (else "JobRunner.run")
                seconds=job.interval.total_seconds(),
            )
        if self.leader is not None:
            self.leader.start()
        scheduler.start()
        self.start_waking()
        return scheduler

    def start_waking(self) -> None:
        """Start the thread that runs the `on_wake` jobs whenever a service wakes the runner."""
        self._stopping.clear()
        self._waker = threading.Thread(target=self._wake_loop, name="envbot-wake", daemon=True)
        self._waker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the wake thread, after the run it is in (the scheduler is shut down by its
        owner), so no job still holds a database connection when the engine goes; the jobs'
        background work takes nothing more."""
        self._stopping.set()
        self.wakeup.event.set()
        if self._waker is not None:
            self._waker.join(timeout)
            self._waker = None
        for job in self.jobs:
            if job.background is not None:
                job.background.close()

    def _wake_loop(self) -> None:
        """Run the `on_wake` jobs whenever a service wakes the runner."""
        while not self._stopping.is_set():
            self.wakeup.event.wait()
            with self._wake_lock:
                if not self.wakeup.event.is_set():
                    continue  # a settle() applied it
                self.wakeup.event.clear()
                if not self._stopping.is_set():
                    self.run_woken()
