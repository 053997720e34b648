"""The stepped runner's jump: jobs that say when they have work run at the same ticks, with the
same effect, as when every job runs at every tick of its interval, in far fewer runs."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.clock import ManualClock
from bot.jobs import Job, JobRunner

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


@dataclass
class World:
    """Work items per job; a run takes every item due by now, and may hand work to another job
    (`then`: name -> (other job, delay)), as expiry hands a deletion to reconcile."""

    clock: ManualClock = field(default_factory=lambda: ManualClock(START))
    work: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    then: dict[str, tuple[str, timedelta]] = field(default_factory=dict)
    done: list[tuple[str, datetime, int]] = field(default_factory=list)  # runs that did work
    runs: int = 0

    def job(self, name: str, interval: timedelta, *, jump: bool) -> Job:
        def run() -> None:
            self.runs += 1
            now = self.clock.now()
            due = [w for w in self.work[name] if w <= now]
            if not due:
                return
            self.work[name] = [w for w in self.work[name] if w > now]
            self.done.append((name, now, len(due)))
            if name in self.then:
                other, delay = self.then[name]
                self.work[other].append(now + delay)

        def next_due(now: datetime) -> datetime | None:
            return min(self.work[name], default=None)

        return Job(name, interval, run, next_due=next_due if jump else None)


def _run(
    intervals: dict[str, timedelta],
    work: dict[str, list[datetime]],
    then: dict[str, tuple[str, timedelta]],
    waits: list[timedelta],
    *,
    jump: bool,
) -> World:
    world = World(then=dict(then))
    for name, moments in work.items():
        world.work[name] = list(moments)
    runner = JobRunner([world.job(n, i, jump=jump) for n, i in intervals.items()])
    for wait in waits:
        runner.advance(world.clock, wait)
    return world


def test_a_job_runs_at_its_first_tick_at_its_work_and_at_the_end() -> None:
    # setup
    intervals = {"expiry": MINUTE}
    work = {"expiry": [START + timedelta(minutes=90, seconds=30)]}

    # execution
    stepped = _run(intervals, work, {}, [timedelta(days=1)], jump=False)
    jumped = _run(intervals, work, {}, [timedelta(days=1)], jump=True)

    # validating: the work is done at the first tick at or after it, in 3 runs instead of 1441
    assert jumped.done == stepped.done == [("expiry", START + timedelta(minutes=91), 1)]
    assert stepped.runs == 24 * 60 + 1
    assert jumped.runs == 3
    assert jumped.clock.now() == START + timedelta(days=1)


def test_a_job_with_nothing_to_do_runs_only_at_its_first_tick_and_at_the_end() -> None:
    world = _run({"idle": MINUTE}, {}, {}, [timedelta(hours=5)], jump=True)

    assert world.runs == 2
    assert world.done == []


def test_work_handed_on_at_a_tick_is_done_there_by_a_later_job_and_next_tick_by_an_earlier() -> (
    None
):
    # setup: at 10:00 "a" hands work due at once to "b" (after it) and to "z" (before it)
    intervals = {"z": MINUTE, "a": MINUTE, "b": MINUTE}
    work = {"a": [START + timedelta(minutes=60)]}
    for then in ({"a": ("b", timedelta(0))}, {"a": ("z", timedelta(0))}):
        # execution
        stepped = _run(intervals, work, then, [timedelta(hours=3)], jump=False)
        jumped = _run(intervals, work, then, [timedelta(hours=3)], jump=True)

        # validating
        assert jumped.done == stepped.done
        assert jumped.runs < stepped.runs / 50
    assert [(n, at - START) for n, at, _ in jumped.done] == [
        ("a", timedelta(minutes=60)),
        ("z", timedelta(minutes=61)),
    ]


def test_ticks_stay_on_each_jobs_own_grid() -> None:
    # setup: 90 s and 150 s grids, work between their ticks
    intervals = {"slow": timedelta(seconds=150), "fast": timedelta(seconds=90)}
    work = {"slow": [START + timedelta(seconds=400)], "fast": [START + timedelta(seconds=400)]}

    # execution
    jumped = _run(intervals, work, {}, [timedelta(hours=1)], jump=True)

    # validating: the first grid tick at or after 400 s: 450 s for both
    assert sorted(jumped.done) == [
        ("fast", START + timedelta(seconds=450), 1),
        ("slow", START + timedelta(seconds=450), 1),
    ]


NAMES = ("a", "b", "c", "d")
intervals_st = st.dictionaries(
    st.sampled_from(NAMES),
    st.sampled_from([timedelta(seconds=s) for s in (30, 60, 90, 150, 600)]),
    min_size=1,
    max_size=4,
)
offsets_st = st.lists(st.integers(min_value=0, max_value=12 * 3600), max_size=6)


@settings(max_examples=60, deadline=None)
@given(
    intervals=intervals_st,
    work=st.dictionaries(st.sampled_from(NAMES), offsets_st),
    then=st.dictionaries(
        st.sampled_from(NAMES),
        st.tuples(st.sampled_from(NAMES), st.sampled_from([timedelta(0), MINUTE, 7 * MINUTE])),
    ),
    waits=st.lists(st.integers(min_value=0, max_value=6 * 3600), min_size=1, max_size=3),
)
def test_jumping_does_the_same_work_at_the_same_moments_as_stepping(
    intervals: dict[str, timedelta],
    work: dict[str, list[int]],
    then: dict[str, tuple[str, timedelta]],
    waits: list[int],
) -> None:
    moments = {n: [START + timedelta(seconds=o) for o in offs] for n, offs in work.items()}
    deltas = [timedelta(seconds=w) for w in waits]

    stepped = _run(intervals, moments, then, deltas, jump=False)
    jumped = _run(intervals, moments, then, deltas, jump=True)

    assert jumped.done == stepped.done
    assert jumped.runs <= stepped.runs
    assert jumped.clock.now() == stepped.clock.now()


def test_a_job_that_skips_while_running_is_not_queued_behind_itself() -> None:
    # setup: a lingering run holds the job; another tick or wake comes meanwhile
    inside, release = threading.Event(), threading.Event()
    runs: list[str] = []

    def linger() -> None:
        runs.append("run")
        inside.set()
        release.wait(timeout=10)

    lingering = Job("outbox", MINUTE, linger, skip_if_running=True)
    waiting = Job("reconcile", MINUTE, lambda: runs.append("other"))
    runner = JobRunner([lingering, waiting])
    first = threading.Thread(target=runner.run, args=(lingering,))
    first.start()
    assert inside.wait(timeout=10)
    # execution: the second run of the lingering job returns at once; other jobs still run
    runner.run(lingering)
    runner.run(waiting)
    release.set()
    first.join(timeout=10)
    # validating
    assert runs == ["run", "other"]
    runner.run(lingering)  # not running any more: runs
    assert runs == ["run", "other", "run"]
