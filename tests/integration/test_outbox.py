"""The outbox against the fake Slack: idempotent keys, threads after cards, 429, 5xx and parking."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import OutboxMessage
from bot.demo.fake_slack import FakeSlack
from bot.domain.clock import ManualClock
from bot.slack.blocks import text_message
from bot.slack.delivery import OutboxDrain
from bot.slack.notify import Notifier


def _queue_card_and_reply(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    notifier = Notifier()
    with sessions.begin() as s:
        notifier.card(
            s, now=clock.now(), obj=("env", "e1"), channel="#platform", message=text_message("card")
        )
        notifier.thread(
            s, now=clock.now(), obj=("env", "e1"), key="phase:ready", message=text_message("Ready")
        )


def test_same_key_twice_sends_once_and_threads_under_the_card(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: queue the same card and reply twice, as a retry or a second replica would
    _queue_card_and_reply(sessions, clock)
    _queue_card_and_reply(sessions, clock)
    # execution: the reply goes to the card's channel, so it waits one second behind the card
    sent = drain.drain()
    clock.advance(timedelta(seconds=1))
    sent += drain.drain()
    # validating
    assert sent == 2
    clock.advance(timedelta(seconds=1))
    assert drain.drain() == 0
    (card,) = fake.history(fake.channel_id("platform"))
    replies = fake.replies(fake.channel_id("platform"), card.ts)
    assert [r.text for r in replies if r.ts != card.ts] == ["Ready"]


def test_update_replaces_the_card_in_place(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    _queue_card_and_reply(sessions, clock)
    for _ in range(3):
        drain.drain()
        clock.advance(timedelta(seconds=1))
    notifier = Notifier()
    with sessions.begin() as s:
        notifier.update_card(
            s, now=clock.now(), obj=("env", "e1"), version=2, message=text_message("v2")
        )
        notifier.update_card(
            s, now=clock.now(), obj=("env", "e1"), version=3, message=text_message("v3")
        )
    drain.drain()
    assert len(fake.calls_to("chat.update")) == 1  # the older unsent update was dropped
    (card,) = fake.history(fake.channel_id("platform"))
    assert card.text == "v3"


def test_rate_limit_waits_for_retry_after(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    _queue_card_and_reply(sessions, clock)
    fake.fail_next("chat.postMessage", status=429, retry_after=7)
    drain.drain()
    with sessions() as s:
        card = s.scalars(select(OutboxMessage).where(OutboxMessage.key == "card:env:e1")).one()
    assert card.status == "pending"
    assert card.due_at == clock.now() + timedelta(seconds=7)
    clock.advance(timedelta(seconds=7))
    drain.drain()
    assert len(fake.history(fake.channel_id("platform"))) == 1


def test_server_errors_back_off_then_park_and_count(
    sessions: sessionmaker[Session], drain: OutboxDrain, fake: FakeSlack, clock: ManualClock
) -> None:
    notifier = Notifier()
    with sessions.begin() as s:
        notifier.dm(s, now=clock.now(), user_id="U0ALICE", key="k", message=text_message("hi"))
    fake.fail_next("chat.postMessage", status=500, count=100)
    for _ in range(20):
        drain.drain()
        clock.advance(timedelta(minutes=10))
    with sessions() as s:
        row = s.scalars(select(OutboxMessage)).one()
    assert row.status == "parked"
    assert drain.parked == 1


def test_a_permanent_error_parks_at_once(
    sessions: sessionmaker[Session], drain: OutboxDrain, clock: ManualClock
) -> None:
    notifier = Notifier()
    with sessions.begin() as s:
        notifier.card(
            s, now=clock.now(), obj=("env", "e9"), channel="#nowhere", message=text_message("lost?")
        )
    drain.drain()
    with sessions() as s:
        row = s.scalars(select(OutboxMessage)).one()
    assert (row.status, row.last_error) == ("parked", "channel_not_found")
