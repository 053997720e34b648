"""The drain against the fake Slack's rate limiter: each channel paced from its own last send,
nothing lost or doubled when Slack answers 429, DMs posted to the user id, and the lingering
real-time drain (tiny limits, no time asserted)."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import OutboxMessage
from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_limits import RateLimits
from bot.domain.clock import ManualClock, SystemClock
from bot.slack.blocks import text_message
from bot.slack.delivery import OutboxDrain
from bot.slack.notify import Notifier
from bot.slack.recover import EVENT_TYPE

STRICT = RateLimits(per_channel=1.0, channel_burst=1)
CHANNELS = ("platform", "sandbox-approvals", "production-approvals")


class _SlowClient(WebClient):
    """A WebClient whose chat.postMessage calls to `slow` first run `before` (to move a manual
    clock, as a slow send would)."""

    def __init__(self, slow: str, before: Callable[[], object], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._slow, self._before = slow, before

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        if api_method == "chat.postMessage" and (kwargs.get("json") or {}).get("channel") == (
            self._slow
        ):
            self._before()
        return super().api_call(api_method, **kwargs)


def _queue_posts(sessions: sessionmaker[Session], now: datetime, per_channel: int) -> None:
    notifier = Notifier()
    with sessions.begin() as s:
        for i, name in itertools.product(range(per_channel), CHANNELS):
            notifier.card(
                s,
                now=now,
                obj=("env", f"{name[:6]}{i}"),
                channel=f"#{name}",
                message=text_message(f"{name} {i}"),
            )


def _keys_in(fake: FakeSlack, conversations: list[str]) -> Counter[str]:
    """How many messages in these conversations carry each outbox key."""
    keys: Counter[str] = Counter()
    for conversation in conversations:
        for message in fake.history(conversation):
            meta = message.metadata or {}
            if meta.get("event_type") == EVENT_TYPE:
                keys[str(meta["event_payload"]["key"])] += 1
    return keys


def _row_keys(sessions: sessionmaker[Session]) -> tuple[set[str], set[str]]:
    """(every row's key, the statuses of the rows)."""
    with sessions() as s:
        rows = s.scalars(select(OutboxMessage)).all()
    return {r.key for r in rows}, {r.status for r in rows}


def test_each_channel_is_paced_from_its_own_last_send(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: Slack allows exactly 1/s per channel (no burst); a post to #platform takes 600 ms.
    # Queued: platform 0, sandbox 0, sandbox 1, platform 1. The first drain posts platform 0
    # (slow) and sandbox 0 (600 ms after the drain started); the 1 s slots that follow must be
    # timed from each post, not from when the drain started
    with FakeSlack(now=clock.now, rate_limits=STRICT) as fake:
        client = _SlowClient(
            "#platform",
            lambda: clock.advance(timedelta(milliseconds=600)),
            base_url=fake.api_url,
            token=fake.token,
            retry_handlers=[],
        )
        drain = OutboxDrain(sessions, client, clock)
        notifier = Notifier()
        with sessions.begin() as s:
            for channel, i in (
                ("platform", 0),
                ("sandbox-approvals", 0),
                ("sandbox-approvals", 1),
                ("platform", 1),
            ):
                notifier.card(
                    s,
                    now=clock.now(),
                    obj=("env", f"{channel[:6]}{i}"),
                    channel=f"#{channel}",
                    message=text_message(f"{channel} {i}"),
                )
        # execution: a drain every 100 ms of simulated time
        for _ in range(40):
            drain.drain()
            clock.advance(timedelta(milliseconds=100))
        # validating: Slack never had to refuse one, and each went once, in order
        assert fake.limiter is not None
        assert fake.limiter.refused == {"channel": 0, "workspace": 0}
        for name in ("platform", "sandbox-approvals"):
            texts = [m.text for m in fake.history(fake.channel_id(name))]
            assert texts == [f"{name} {i}" for i in range(2)]
        assert _row_keys(sessions)[1] == {"sent"}


def test_nothing_is_lost_or_doubled_when_slack_answers_429(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: the drain paces twice as fast as Slack allows, and Slack holds a workspace limit
    limits = RateLimits(per_channel=1.0, channel_burst=1, workspace_rate=3.0, workspace_burst=2)
    with FakeSlack(now=clock.now, rate_limits=limits) as fake:
        drain = OutboxDrain(
            sessions,
            fake.web_client(retry_handlers=[]),
            clock,
            per_channel=timedelta(milliseconds=500),
        )
        _queue_posts(sessions, clock.now(), 4)
        users = ["alice", "bob", "carol", "dave"]
        notifier = Notifier()
        with sessions.begin() as s:
            for i, user in enumerate(users):
                notifier.dm(
                    s,
                    now=clock.now(),
                    user_id=fake.user_id(user),
                    key=f"k{i}",
                    message=text_message(f"dm {user}"),
                )
        # execution
        for _ in range(200):
            drain.drain()
            clock.advance(timedelta(milliseconds=250))
        # validating: Slack refused some; every row is sent, and Slack holds each exactly once
        assert fake.limiter is not None
        assert fake.limiter.refused["channel"] > 0
        assert fake.limiter.refused["workspace"] > 0
        keys, statuses = _row_keys(sessions)
        assert statuses == {"sent"}
        where = [fake.channel_id(n) for n in CHANNELS] + [fake.dm_channel_id(u) for u in users]
        assert _keys_in(fake, where) == dict.fromkeys(keys, 1)
        with sessions() as s:  # a 429 is not a failed attempt
            assert set(s.scalars(select(OutboxMessage.attempts))) == {1}


def test_dms_go_to_the_user_id_without_conversations_open(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    with FakeSlack(now=clock.now) as fake:
        drain = OutboxDrain(sessions, fake.web_client(retry_handlers=[]), clock)
        notifier = Notifier()
        alice = fake.user_id("alice")
        with sessions.begin() as s:
            for i in range(2):
                notifier.dm(
                    s, now=clock.now(), user_id=alice, key=str(i), message=text_message(f"dm {i}")
                )
        for _ in range(3):
            drain.drain()
            clock.advance(timedelta(seconds=1))
        posts = fake.calls_to("chat.postMessage")
        assert fake.calls_to("conversations.open") == []
        assert [c.params["channel"] for c in posts] == [alice, fake.dm_channel_id("alice")]
        texts = [m.text for m in fake.history(fake.dm_channel_id("alice"))]
        assert texts == ["dm 0", "dm 1"]


def test_a_dm_whose_answer_was_lost_is_looked_up_not_posted_twice(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    with FakeSlack(now=clock.now) as fake:
        drain = OutboxDrain(sessions, fake.web_client(retry_handlers=[]), clock)
        with sessions.begin() as s:
            Notifier().dm(
                s,
                now=clock.now(),
                user_id=fake.user_id("bob"),
                key="x",
                message=text_message("once"),
            )
        fake.drop_next("chat.postMessage", after=True)  # Slack took it; the answer is lost
        for _ in range(20):
            drain.drain()
            clock.advance(timedelta(seconds=2))
        # the lookup needs the DM's id: conversations.open, then history
        assert [m.text for m in fake.history(fake.dm_channel_id("bob"))] == ["once"]
        assert len(fake.calls_to("conversations.open")) == 1
        assert _row_keys(sessions)[1] == {"sent"}


def test_a_lingering_drain_sends_everything_once_in_order(
    sessions: sessionmaker[Session],
) -> None:
    # setup: real time with tiny limits (20 a second per channel, 100 for the workspace)
    clock = SystemClock()
    limits = RateLimits(per_channel=20.0, channel_burst=2, workspace_rate=100.0, workspace_burst=10)
    with FakeSlack(now=clock.now, rate_limits=limits) as fake:
        drain = OutboxDrain(
            sessions,
            fake.web_client(retry_handlers=[]),
            clock,
            per_channel=timedelta(milliseconds=50),
            workers=4,
            linger=timedelta(milliseconds=200),
            workspace_rate=100.0,
            workspace_burst=5,
        )
        _queue_posts(sessions, clock.now(), 5)
        users = ["alice", "bob", "carol"]
        with sessions.begin() as s:
            for user in users:
                Notifier().dm(
                    s,
                    now=clock.now(),
                    user_id=fake.user_id(user),
                    key="k",
                    message=text_message(f"dm {user}"),
                )
        # execution: as the scheduler would, until nothing is open (a 429 waits 1 s)
        for _ in range(20):
            drain.drain()
            if _row_keys(sessions)[1] == {"sent"}:
                break
        # validating
        keys, statuses = _row_keys(sessions)
        assert statuses == {"sent"}
        where = [fake.channel_id(n) for n in CHANNELS] + [fake.dm_channel_id(u) for u in users]
        assert _keys_in(fake, where) == dict.fromkeys(keys, 1)
        for name in CHANNELS:
            texts = [m.text for m in fake.history(fake.channel_id(name))]
            assert texts == [f"{name} {i}" for i in range(5)]
