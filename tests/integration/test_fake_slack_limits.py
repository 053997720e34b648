"""The fake Slack's chat.postMessage rate limiter, through the real WebClient: 429 `ratelimited`
with a whole-second Retry-After once a conversation's or the workspace's bucket is empty."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_limits import RateLimits
from bot.domain.clock import ManualClock


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeSlack]:
    limits = RateLimits(per_channel=1.0, channel_burst=2, workspace_rate=4.0, workspace_burst=5)
    with FakeSlack(now=clock.now, rate_limits=limits) as slack:
        yield slack


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return fake.web_client(retry_handlers=[])


def _refused(client: WebClient, channel: str) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=channel, text="one too many")
    return caught.value


def test_a_channel_takes_its_burst_then_one_a_second(
    fake: FakeSlack, client: WebClient, clock: ManualClock
) -> None:
    # setup: the burst of two goes at once
    client.chat_postMessage(channel="#platform", text="1")
    client.chat_postMessage(channel="#platform", text="2")
    # execution
    refused = _refused(client, "#platform")
    clock.advance(timedelta(milliseconds=999))
    still = _refused(client, "#platform")
    clock.advance(timedelta(milliseconds=1))
    client.chat_postMessage(channel="#platform", text="3")
    # validating: HTTP 429, Slack's error and a whole-second Retry-After; nothing stored
    assert refused.response.status_code == 429
    assert refused.response["error"] == "ratelimited"
    assert refused.response.headers["Retry-After"] == "1"
    assert still.response.status_code == 429
    texts = [m.text for m in fake.history(fake.channel_id("platform"))]
    assert texts == ["1", "2", "3"]


def test_a_name_an_id_and_a_user_id_count_against_one_conversation(
    fake: FakeSlack, client: WebClient
) -> None:
    # setup: #platform by name and by id; alice by user id and by her DM's id
    client.chat_postMessage(channel="#platform", text="by name")
    client.chat_postMessage(channel=fake.channel_id("platform"), text="by id")
    client.chat_postMessage(channel=fake.user_id("alice"), text="by user id")
    client.chat_postMessage(channel=fake.dm_channel_id("alice"), text="by DM id")
    # execution / validating: both conversations have spent their burst
    assert _refused(client, fake.channel_id("platform")).response.status_code == 429
    assert _refused(client, fake.user_id("alice")).response.status_code == 429
    # another conversation still has its own
    client.chat_postMessage(channel="#sandbox-approvals", text="elsewhere")


def test_the_workspace_limit_holds_across_channels(
    fake: FakeSlack, client: WebClient, clock: ManualClock
) -> None:
    # setup: five posts to five conversations spend the workspace burst
    for user in ("alice", "bob", "carol", "dave"):
        client.chat_postMessage(channel=fake.user_id(user), text="hi")
    client.chat_postMessage(channel="#platform", text="hi")
    # execution
    refused = _refused(client, "#sandbox-approvals")
    clock.advance(timedelta(milliseconds=250))  # 4 a second: one token back
    client.chat_postMessage(channel="#sandbox-approvals", text="now")
    # validating
    assert refused.response.status_code == 429
    assert refused.response.headers["Retry-After"] == "1"
    assert fake.limiter is not None
    assert fake.limiter.refused == {"channel": 0, "workspace": 1}


def test_other_methods_and_unknown_channels_are_not_limited(
    fake: FakeSlack, client: WebClient
) -> None:
    # setup
    first = client.chat_postMessage(channel="#platform", text="v1")
    client.chat_postMessage(channel="#platform", text="2")
    # execution: updates are another tier; a post to no channel answers channel_not_found
    for i in range(3):
        client.chat_update(channel=str(first["channel"]), ts=str(first["ts"]), text=f"v{i}")
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="#nowhere", text="x")
    # validating
    assert caught.value.response["error"] == "channel_not_found"


def test_limits_are_off_unless_asked_for(clock: ManualClock) -> None:
    with FakeSlack(now=clock.now) as fake:
        client = fake.web_client(retry_handlers=[])
        for i in range(5):
            client.chat_postMessage(channel="#platform", text=str(i))
        assert len(fake.history(fake.channel_id("platform"))) == 5


def test_the_floor_is_what_the_buckets_allow() -> None:
    limits = RateLimits(per_channel=1.0, channel_burst=2, workspace_rate=100.0, workspace_burst=10)
    # 20 posts in each of 50 channels: 18 s per channel; the workspace needs (1000-10)/100
    assert limits.floor([20] * 50) == 18.0
    # 1,000 DMs, one per user: the workspace limit decides
    assert limits.floor([1] * 1000) == pytest.approx(9.9)
    assert RateLimits(channel_burst=1).floor([5]) == 4.0
    with pytest.raises(ValueError, match="channel_burst"):
        RateLimits(channel_burst=0)
