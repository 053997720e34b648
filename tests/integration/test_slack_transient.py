"""Directory lookups through the real WebClient: Slack's passing faults are retried once within
a listener's budget, Retry-After is honoured, and what persists becomes a TemporaryError."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.demo.fake_slack import DEFAULT_TOKEN, FakeSlack
from bot.errors import NotFound, TemporaryError
from bot.slack.directory import SlackDirectory


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        server.add_user("dana")
        yield server


def directory(base_url: str, slept: list[float], timeout: int = 30) -> SlackDirectory:
    client = WebClient(token=DEFAULT_TOKEN, base_url=base_url, timeout=timeout, retry_handlers=[])
    return SlackDirectory(client, ttl=0, sleep=slept.append)


def test_short_retry_after_is_waited_then_retried(fake: FakeSlack) -> None:
    # setup
    slept: list[float] = []
    fake.fail_next("users.info", status=429, retry_after=1)

    # execution
    user = directory(fake.api_url, slept).user("U0DANA")

    # validating
    assert user.id == "U0DANA"
    assert slept == [1.0]
    assert [c.status for c in fake.calls_to("users.info")] == [429, 200]


def test_long_retry_after_is_not_waited_in_a_listener(fake: FakeSlack) -> None:
    # setup
    slept: list[float] = []
    fake.fail_next("users.info", status=429, retry_after=30)

    # execution
    with pytest.raises(TemporaryError) as exc_info:
        directory(fake.api_url, slept).user("U0DANA")

    # validating
    assert exc_info.value.retry_after == 30
    assert slept == []
    assert [c.status for c in fake.calls_to("users.info")] == [429]


def test_server_errors_are_retried_once_then_temporary(fake: FakeSlack) -> None:
    # setup
    slept: list[float] = []
    fake.fail_next("usergroups.list", status=500, count=2)

    # execution
    with pytest.raises(TemporaryError, match="Slack did not answer"):
        directory(fake.api_url, slept)._group_members("sandbox-owners")

    # validating
    assert len(slept) == 1
    assert [c.status for c in fake.calls_to("usergroups.list")] == [500, 500]


def test_refused_connection_is_temporary() -> None:
    # setup: a port nobody listens on
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    slept: list[float] = []

    # execution / validating
    with pytest.raises(TemporaryError):
        directory(f"http://127.0.0.1:{port}/api/", slept).user("U0DANA")
    assert len(slept) == 1


def test_timeout_is_temporary() -> None:
    # setup: a server that accepts connections and never answers
    slept: list[float] = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]

        # execution / validating
        with pytest.raises(TemporaryError):
            directory(f"http://127.0.0.1:{port}/api/", slept, timeout=1).user("U0DANA")
    assert len(slept) == 1


def test_real_refusals_are_not_retried(fake: FakeSlack) -> None:
    # setup
    slept: list[float] = []
    fake.fail_next("users.info", status=200, error="invalid_auth")

    # execution / validating: a bug or a misconfiguration stays an error, not "try again"
    with pytest.raises(SlackApiError):
        directory(fake.api_url, slept).user("U0DANA")
    with pytest.raises(NotFound):
        directory(fake.api_url, slept).user("U0NOBODY")
    assert slept == []
