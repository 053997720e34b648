"""Fixtures the outbox and fake Slack tests share: a fake Slack on the test's clock, and a drain
that sends through it with no client-side retries (the tests drive every retry)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk.http_retry import RetryHandler
from sqlalchemy.orm import Session, sessionmaker

from bot.demo.fake_slack import FakeSlack
from bot.domain.clock import ManualClock
from bot.slack.delivery import OutboxDrain

NO_RETRIES: list[RetryHandler] = []


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeSlack]:
    with FakeSlack(now=clock.now) as slack:
        yield slack


@pytest.fixture
def drain(sessions: sessionmaker[Session], fake: FakeSlack, clock: ManualClock) -> OutboxDrain:
    return OutboxDrain(sessions, fake.web_client(retry_handlers=NO_RETRIES), clock)
