"""Crash-safe and durable delivery over the real WebClient against the fake Slack: private
answers survive a failing or dead response_url, a post Slack accepted before a crash is found
by its metadata instead of being posted twice, and a 20 % fault rate loses and doubles nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import OutboxMessage, SlackMessage
from bot.demo.delivery_faults import run_matrix
from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_scopes import MANIFEST_SCOPES
from bot.demo.fake_slack_store import DeliveryKind
from bot.domain.clock import ManualClock
from bot.slack.blocks import text_message
from bot.slack.delivery import OutboxDrain
from bot.slack.notify import Notifier

OBJ = ("env", "e1")


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeSlack]:
    with FakeSlack(now=clock.now) as slack:
        yield slack


def _drain(sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock) -> OutboxDrain:
    return OutboxDrain(sessions, fake.web_client(retry_handlers=[]), clock)


def _run(drain: OutboxDrain, clock: ManualClock, seconds: int) -> None:
    for _ in range(seconds):
        drain.drain()
        clock.advance(timedelta(seconds=1))


def _answer(sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock) -> str:
    url = fake.new_response_url(fake.channel_id("platform"), "alice")
    with sessions.begin() as s:
        Notifier().respond(
            s,
            now=clock.now(),
            key="t1",
            url=url,
            channel=fake.channel_id("platform"),
            user_id=fake.user_id("alice"),
            message=text_message("your environment is ready"),
        )
    return url


def _shown(fake: FakeSlack, kind: DeliveryKind) -> list[str]:
    found, _ = fake.deliveries_since(0)
    return [d.text for d in found if d.kind == kind and d.text == "your environment is ready"]


def _rows(sessions: sessionmaker[Session]) -> list[OutboxMessage]:
    with sessions() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all())


def test_a_response_url_500_once_delivers_once(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock
) -> None:
    # setup
    _answer(sessions, fake, clock)
    fake.fail_next("response_url", status=500)

    # execution
    _run(_drain(sessions, fake, clock), clock, 5)

    # validating: one failed use, one good one, and the user saw the answer once
    assert [c.status for c in fake.calls_to("response_url")] == [500, 200]
    assert len(_shown(fake, DeliveryKind.EPHEMERAL)) == 1
    (row,) = _rows(sessions)
    assert row.status == "sent"
    assert row.response_url.startswith("sha256:")  # the credential is not kept once used


def test_a_dead_response_url_falls_back_to_ephemeral_then_to_a_dm(
    sessions: sessionmaker[Session],
    fake: FakeSlack,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # setup: the hook is gone (404 used_url) and the bot may not post in the channel
    caplog.set_level(logging.DEBUG)
    url = _answer(sessions, fake, clock)
    fake.fail_next("response_url", status=404, error="used_url")
    fake.fail_next("chat.postEphemeral", status=200, error="not_in_channel")

    # execution
    _run(_drain(sessions, fake, clock), clock, 5)

    # validating: each way tried once, in order; the answer arrived once, by DM
    tried = [c.method for c in fake.calls if c.method != "conversations.open"]
    assert tried == ["response_url", "chat.postEphemeral", "chat.postMessage"]
    assert len(_shown(fake, DeliveryKind.DM)) == 1
    assert _shown(fake, DeliveryKind.EPHEMERAL) == []
    (row,) = _rows(sessions)
    assert (row.kind, row.status, row.response_url) == ("dm", "sent", "")
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("bot.demo")]
    assert any("sending it as dm instead" in line for line in ours)
    token = url.rsplit("/", 1)[-1]
    assert not [line for line in ours if token in line]  # the credential is never logged


def test_an_expired_response_url_is_not_used_at_all(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: the answer waited past Slack's 30 minutes (the fake would answer expired_url)
    _answer(sessions, fake, clock)
    clock.advance(timedelta(minutes=31))

    # execution
    _run(_drain(sessions, fake, clock), clock, 3)

    # validating
    assert fake.calls_to("response_url") == []
    assert len(_shown(fake, DeliveryKind.EPHEMERAL)) == 1


def test_a_response_url_takes_five_uses_then_the_answer_goes_ephemeral(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: every use fails with a 503
    _answer(sessions, fake, clock)
    fake.fail_next("response_url", status=503, count=10)

    # execution
    _run(_drain(sessions, fake, clock), clock, 90)

    # validating: exactly Slack's 5 uses, then chat.postEphemeral
    assert len(fake.calls_to("response_url")) == 5
    assert len(_shown(fake, DeliveryKind.EPHEMERAL)) == 1


class _Crashing(WebClient):
    """Dies (as `kill -9` would, mid-drain) before or after Slack takes one chat.postMessage."""

    def __init__(self, after: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._after = after

    def api_call(self, api_method: str, **kwargs: Any) -> Any:
        if api_method != "chat.postMessage":
            return super().api_call(api_method, **kwargs)
        if not self._after:
            raise SystemExit("killed before the post")
        super().api_call(api_method, **kwargs)
        raise SystemExit("killed after Slack accepted the post")


Queue = Callable[[sessionmaker[Session], FakeSlack, ManualClock], None]


def _card(sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock) -> None:
    with sessions.begin() as s:
        Notifier().card(
            s, now=clock.now(), obj=OBJ, channel="#platform", message=text_message("card")
        )


def _dm(sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock) -> None:
    with sessions.begin() as s:
        Notifier().dm(
            s, now=clock.now(), user_id=fake.user_id("bob"), key="k", message=text_message("dm")
        )


def _crash_then_resume(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock, *, after: bool
) -> None:
    crashing = OutboxDrain(
        sessions,
        _Crashing(after, base_url=fake.api_url, token=fake.token, retry_handlers=[]),
        clock,
    )
    with pytest.raises(SystemExit):
        crashing.drain()
    assert [r.status for r in _rows(sessions)][-1] == "sending"
    clock.advance(timedelta(minutes=3))  # past resume_after: the row is resumed
    _run(_drain(sessions, fake, clock), clock, 3)


@pytest.mark.parametrize("queue", [_card, _dm], ids=["card", "dm"])
def test_a_crash_after_slack_accepted_a_post_records_it_without_posting_again(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock, queue: Queue
) -> None:
    # setup
    queue(sessions, fake, clock)

    # execution
    _crash_then_resume(sessions, fake, clock, after=True)

    # validating: one message in Slack, found by its metadata, and the row records its ts
    (posted,) = fake.kept_messages()
    (row,) = _rows(sessions)
    assert len(fake.calls_to("chat.postMessage")) == 1
    assert row.status == "sent"
    assert posted.metadata == {"event_type": "envbot_outbox", "event_payload": {"key": row.key}}
    lookups = fake.calls_to("conversations.history")
    assert lookups
    assert all(c.params.get("include_all_metadata") in ("1", "true", True) for c in lookups)
    if row.purpose:
        with sessions() as s:
            (ref,) = s.scalars(select(SlackMessage)).all()
        assert (ref.channel, ref.ts) == (posted.channel, posted.ts)


def test_a_crash_after_a_thread_reply_was_accepted_is_found_in_the_replies(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: the card is out; its reply is queued
    _card(sessions, fake, clock)
    _run(_drain(sessions, fake, clock), clock, 2)
    with sessions.begin() as s:
        Notifier().thread(s, now=clock.now(), obj=OBJ, key="ready", message=text_message("Ready"))

    # execution
    _crash_then_resume(sessions, fake, clock, after=True)

    # validating
    (card,) = fake.history(fake.channel_id("platform"))
    replies = [m for m in fake.replies(card.channel, card.ts) if m.ts != card.ts]
    assert [m.text for m in replies] == ["Ready"]
    assert fake.calls_to("conversations.replies")
    assert {r.status for r in _rows(sessions)} == {"sent"}


def test_a_crash_before_the_post_reached_slack_posts_once(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock
) -> None:
    # setup
    _card(sessions, fake, clock)

    # execution
    _crash_then_resume(sessions, fake, clock, after=False)

    # validating: looked up, not found, posted once
    assert fake.calls_to("conversations.history")
    assert [m.text for m in fake.kept_messages()] == ["card"]
    assert [r.status for r in _rows(sessions)] == ["sent"]


def test_a_lost_answer_to_an_accepted_post_is_looked_up_not_reposted(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: Slack takes the post, the connection drops before its answer
    _card(sessions, fake, clock)
    fake.drop_next("chat.postMessage", after=True)

    # execution
    _run(_drain(sessions, fake, clock), clock, 5)

    # validating
    assert len(fake.kept_messages()) == 1
    assert [r.status for r in _rows(sessions)] == ["sent"]


def test_twenty_percent_faults_lose_and_double_nothing(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock
) -> None:
    # execution: 12 flows (48 messages) with a fifth of Slack's answers failing
    figures = run_matrix(sessions, fake, clock, flows=12, rate=0.2, seed=7)

    # validating
    assert figures.faults > 10  # the faults really happened
    assert (figures.lost, figures.doubled, figures.answers_lost, figures.parked) == (0, 0, 0, 0)
    assert figures.sent == 48


def test_a_missing_history_scope_parks_the_row_naming_the_scope(
    sessions: sessionmaker[Session],
    fake: FakeSlack,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # setup: the app was installed without channels:history
    fake.set_scopes(MANIFEST_SCOPES - {"channels:history"})
    _card(sessions, fake, clock)

    # execution
    with caplog.at_level(logging.ERROR, logger="bot.slack.outbox_rows"):
        _crash_then_resume(sessions, fake, clock, after=True)

    # validating: parked (not posted twice), and the log says which scope to add
    (row,) = _rows(sessions)
    assert (row.status, row.last_error) == ("parked", "missing_scope channels:history")
    assert len(fake.kept_messages()) == 1
    assert any("lacks the channels:history scope" in r.getMessage() for r in caplog.records)
    (refused,) = [c for c in fake.calls_to("conversations.history")]
    assert refused.error == "missing_scope"


def test_lost_connections_count_as_attempts_and_park_like_api_errors(
    sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock
) -> None:
    # setup: Slack never answers the card's post (nor takes it)
    _card(sessions, fake, clock)
    fake.drop_next("chat.postMessage", after=False, count=100)
    drain = _drain(sessions, fake, clock)

    # execution: run the drain whenever it has work, over its whole backoff
    for _ in range(20):
        drain.drain()
        due = drain.next_due(clock.now())
        if due is None:
            break
        clock.set(max(due, clock.now() + timedelta(seconds=1)))

    # validating: 8 attempts, then parked (kept, counted), nothing posted
    (row,) = _rows(sessions)
    assert (row.status, row.attempts) == ("parked", 8)
    assert row.last_error == "no answer from Slack (RemoteDisconnected)"
    assert drain.parked == 1
    assert len(fake.calls_to("chat.postMessage")) == 8
    assert fake.kept_messages() == []
