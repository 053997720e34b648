"""The drain's per-channel pacing against the fake Slack: 1/s per channel, 429s, restarts."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import OutboxMessage
from bot.demo.fake_slack import FakeSlack
from bot.domain.clock import ManualClock
from bot.slack.blocks import text_message
from bot.slack.delivery import OutboxDrain
from bot.slack.notify import Notifier
from tests.integration.conftest import NO_RETRIES

STEP = timedelta(milliseconds=250)


def _queue(sessions: sessionmaker[Session], clock: ManualClock, channel: str, n: int) -> None:
    notifier = Notifier()
    with sessions.begin() as s:
        for i in range(n):
            notifier.card(
                s,
                now=clock.now(),
                obj=("env", f"{channel[:8]}{i}"),
                channel=f"#{channel}",
                message=text_message(f"{channel} {i}"),
            )


def _run(
    drain: OutboxDrain, fake: FakeSlack, clock: ManualClock, until: timedelta
) -> dict[str, list[datetime]]:
    """Drain every STEP of virtual time; when each channel's posts reached the fake."""
    seen: dict[str, list[datetime]] = {}
    end = clock.now() + until
    done = len(fake.calls_to("chat.postMessage"))
    while clock.now() <= end:
        drain.drain()
        calls = fake.calls_to("chat.postMessage")
        for call in calls[done:]:
            if call.error is None:
                seen.setdefault(str(call.params["channel"]), []).append(clock.now())
        done = len(calls)
        clock.advance(STEP)
    return seen


def _gaps(times: list[datetime]) -> list[float]:
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


def test_five_messages_to_one_channel_go_one_per_second(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    # setup
    _queue(sessions, clock, "platform", 5)
    start = clock.now()
    # execution
    first = drain.drain()
    seen = _run(drain, fake, clock, timedelta(seconds=10))
    # validating: one now, the rest at least a second apart, in the order they were queued
    assert first == 1
    times = [start, *seen["#platform"]]
    assert len(times) == 5
    assert all(gap >= 1 for gap in _gaps(times))
    texts = [m.text for m in fake.history(fake.channel_id("platform"))]
    assert texts == [f"platform {i}" for i in range(5)]


def test_two_channels_do_not_block_each_other(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    _queue(sessions, clock, "platform", 3)
    _queue(sessions, clock, "sandbox-approvals", 3)
    assert drain.drain() == 2
    seen = _run(drain, fake, clock, timedelta(seconds=5))
    assert len(seen["#platform"]) == len(seen["#sandbox-approvals"]) == 2
    assert seen["#platform"] == seen["#sandbox-approvals"]  # in step, not one after the other


def test_thread_replies_updates_and_dms_count_against_their_channel(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: a card, a reply in its thread and an update of it, plus two DMs to one user
    notifier = Notifier()
    obj = ("env", "e1")
    with sessions.begin() as s:
        now = clock.now()
        notifier.card(s, now=now, obj=obj, channel="#platform", message=text_message("card"))
        notifier.thread(s, now=now, obj=obj, key="r", message=text_message("reply"))
        notifier.dm(s, now=now, user_id="U0ALICE", key="1", message=text_message("dm1"))
        notifier.dm(s, now=now, user_id="U0ALICE", key="2", message=text_message("dm2"))
    # execution: the card and the first DM go now; the reply and the second DM a second later
    assert drain.drain() == 2
    clock.advance(timedelta(milliseconds=999))
    assert drain.drain() == 0
    clock.advance(timedelta(milliseconds=1))
    assert drain.drain() == 2
    with sessions.begin() as s:
        notifier.update_card(s, now=clock.now(), obj=obj, version=2, message=text_message("v2"))
    assert drain.drain() == 0
    clock.advance(timedelta(seconds=1))
    # validating
    assert drain.drain() == 1
    assert len(fake.calls_to("chat.update")) == 1


def test_one_channels_backlog_does_not_starve_another(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: 30 rows for #platform queued first, then one for another channel; batches of 10
    _queue(sessions, clock, "platform", 30)
    _queue(sessions, clock, "sandbox-approvals", 1)
    drain = OutboxDrain(sessions, fake.web_client(retry_handlers=NO_RETRIES), clock, batch=10)
    # execution
    sent = drain.drain()
    # validating
    assert sent == 2
    channels = [c.params["channel"] for c in fake.calls_to("chat.postMessage")]
    assert channels == ["#platform", "#sandbox-approvals"]


def test_a_429_holds_only_its_channel_for_retry_after(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    # setup
    _queue(sessions, clock, "platform", 3)
    _queue(sessions, clock, "sandbox-approvals", 3)
    fake.fail_next("chat.postMessage", status=429, retry_after=5)  # hits the first #platform row
    start = clock.now()
    # execution
    seen = _run(drain, fake, clock, timedelta(seconds=10))
    # validating: the other channel is unaffected; #platform waits 5 s, then paces again
    assert [(t - start).total_seconds() for t in seen["#sandbox-approvals"]] == [0, 1, 2]
    assert [(t - start).total_seconds() for t in seen["#platform"]] == [5, 6, 7]
    with sessions() as s:
        rows = s.scalars(select(OutboxMessage)).all()
    assert {r.status for r in rows} == {"sent"}
    assert all(r.attempts == 1 for r in rows)  # a 429 is not a failed attempt


class _HookedClient(WebClient):
    """A WebClient that runs a hook before each call (to crash or interleave mid-batch)."""

    def __init__(self, hook: Callable[[str], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._hook = hook

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        self._hook(api_method)
        return super().api_call(api_method, **kwargs)


def _post_counts(fake: FakeSlack) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call in fake.calls_to("chat.postMessage"):
        text = str(call.params["text"])
        counts[text] = counts.get(text, 0) + 1
    return counts


def _all_channels(sessions: sessionmaker[Session], clock: ManualClock) -> list[str]:
    channels = ["platform", "sandbox-approvals", "production-approvals"]
    for name in channels:
        _queue(sessions, clock, name, 2)
    return [f"{name} {i}" for name in channels for i in range(2)]


def test_a_crash_mid_batch_then_a_new_drain_loses_and_doubles_nothing(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: the process dies (an exception out of drain) as it is about to make its 2nd call
    texts = _all_channels(sessions, clock)
    calls = 0

    def crash_on_second(method: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise SystemExit("killed")

    crashing = OutboxDrain(
        sessions, _HookedClient(crash_on_second, base_url=fake.api_url, token=fake.token), clock
    )
    with pytest.raises(SystemExit):
        crashing.drain()
    # execution: a fresh drain (a restarted replica) runs until everything is out
    fresh = OutboxDrain(sessions, fake.web_client(retry_handlers=NO_RETRIES), clock)
    for _ in range(3):
        fresh.drain()
        clock.advance(timedelta(seconds=1))
    stuck_before_resume = _post_counts(fake)
    clock.advance(timedelta(minutes=2))
    fresh.drain()
    # validating: the claimed-but-unsent row waited for resume_after, then went once
    assert len(stuck_before_resume) == len(texts) - 1
    assert _post_counts(fake) == dict.fromkeys(texts, 1)


def test_two_drains_racing_on_one_database_send_each_row_once(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: one row per channel; drain A selects all three, then, while A sends row 1,
    # drain B (another replica) claims row 2 and is still sending it when A reaches row 2
    notifier = Notifier()
    names = ["platform", "sandbox-approvals", "production-approvals"]
    with sessions.begin() as s:
        for name in names:
            notifier.card(
                s,
                now=clock.now(),
                obj=("env", name[:8]),
                channel=f"#{name}",
                message=text_message(name),
            )
    b_sending, a_done = threading.Event(), threading.Event()

    def b_hook(method: str) -> None:
        if not b_sending.is_set():
            b_sending.set()
            a_done.wait(timeout=10)

    other = OutboxDrain(
        sessions, _HookedClient(b_hook, base_url=fake.api_url, token=fake.token), clock
    )
    racer = threading.Thread(target=other.drain)

    def a_hook(method: str) -> None:
        if not racer.is_alive() and not b_sending.is_set():
            racer.start()
            assert b_sending.wait(timeout=10)

    first = OutboxDrain(
        sessions, _HookedClient(a_hook, base_url=fake.api_url, token=fake.token), clock
    )
    # execution
    try:
        first.drain()
    finally:
        a_done.set()
        racer.join(timeout=10)
    # validating
    assert _post_counts(fake) == dict.fromkeys(names, 1)


def test_parking_is_counted_in_prometheus(
    sessions: sessionmaker[Session], drain: OutboxDrain, clock: ManualClock
) -> None:
    before = REGISTRY.get_sample_value("envbot_outbox_parked_total") or 0.0
    _queue(sessions, clock, "nowhere", 1)
    drain.drain()
    assert REGISTRY.get_sample_value("envbot_outbox_parked_total") == before + 1
    assert drain.parked == 1
    assert REGISTRY.get_sample_value("envbot_outbox_pending") == 0
