"""A message queued outside a job wakes the outbox drain after commit: it is sent without the
clock reaching the drain's next tick (the jobs run on a ManualClock that nobody advances)."""

from __future__ import annotations

from bot.demo.fake_slack import FakeSlack
from bot.domain.clock import ManualClock
from bot.lifecycle.wake import in_job
from bot.slack.blocks import text_message
from bot.slack.notify import Notifier
from tests.scenario.conftest import RuntimeFactory, wait_for


def _dms(slack: FakeSlack, user: str) -> list[str]:
    uid = slack.user_id(user)
    return [m.text for m in slack.visible_messages(uid) if m.dm_user == uid]


def test_notify_user_is_sent_before_the_next_drain_tick(
    make_runtime: RuntimeFactory, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    # setup: the drain ticks every 60 s; the clock stays where it is
    runtime = make_runtime()
    start = clock.now()

    # execution
    runtime.services.notify_user(fake_slack.user_id("alice"), text_message("your form is in"))

    # validating
    wait_for(lambda: "your form is in" in _dms(fake_slack, "alice"), what="the DM")
    assert clock.now() == start


def test_a_rolled_back_or_in_job_insert_wakes_nothing(
    make_runtime: RuntimeFactory, fake_slack: FakeSlack, clock: ManualClock
) -> None:
    # setup
    runtime = make_runtime()
    sessions, uid = runtime.services.sessions, fake_slack.user_id("alice")
    runtime.jobs.stop()  # no wake thread: the flag stays as the commit left it
    wakeup = runtime.jobs.wakeup.event

    # execution: a job's insert, then a rolled-back one
    with in_job(), sessions.begin() as s:
        Notifier().dm(s, now=clock.now(), user_id=uid, key="job", message=text_message("job"))
    in_job_woke = wakeup.is_set()
    with sessions() as s:
        Notifier().dm(s, now=clock.now(), user_id=uid, key="gone", message=text_message("gone"))
        s.rollback()
        s.commit()  # a later commit with nothing queued must not wake for the rolled-back row
    rolled_back_woke = wakeup.is_set()
    with sessions.begin() as s:
        Notifier().dm(s, now=clock.now(), user_id=uid, key="now", message=text_message("now"))

    # validating
    assert (in_job_woke, rolled_back_woke, wakeup.is_set()) == (False, False, True)
