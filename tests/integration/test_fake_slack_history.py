"""The fake Slack's history, scopes and response_url limits answer as Slack does, for the real
WebClient: metadata only with include_all_metadata, no ephemerals, `missing_scope` with
`needed`/`provided`, and a response_url dead after 5 uses or 30 minutes."""

from __future__ import annotations

from datetime import timedelta
from http.client import RemoteDisconnected
from pathlib import Path

import pytest
import requests
import yaml
from slack_sdk.errors import SlackApiError

from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_scopes import MANIFEST_SCOPES
from bot.domain.clock import ManualClock

ROOT = Path(__file__).resolve().parents[2]
META = {"event_type": "envbot_outbox", "event_payload": {"key": "card:env:e1"}}


def test_the_fakes_default_scopes_are_the_manifests() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == MANIFEST_SCOPES


def test_history_returns_metadata_only_when_asked_and_never_ephemerals(fake: FakeSlack) -> None:
    # setup
    client = fake.web_client()
    channel = fake.channel_id("platform")
    posted = client.chat_postMessage(channel="#platform", text="card", metadata=META)
    client.chat_postEphemeral(channel=channel, user=fake.user_id("alice"), text="psst")
    client.chat_postMessage(channel=channel, thread_ts=posted["ts"], text="reply", metadata=META)

    # execution
    plain = client.conversations_history(channel=channel)
    full = client.conversations_history(channel=channel, include_all_metadata=True)
    thread = client.conversations_replies(
        channel=channel, ts=posted["ts"], include_all_metadata=True
    )

    # validating
    assert [m["text"] for m in plain["messages"]] == ["card"]
    assert "metadata" not in plain["messages"][0]
    assert full["messages"][0]["metadata"] == META
    assert [m["text"] for m in thread["messages"]] == ["card", "reply"]
    assert thread["messages"][1]["metadata"] == META


def test_history_pages_newest_first_within_oldest(fake: FakeSlack, clock: ManualClock) -> None:
    # setup: three posts a minute apart
    client = fake.web_client()
    channel = fake.channel_id("platform")
    ts = []
    for i in range(3):
        ts.append(client.chat_postMessage(channel=channel, text=f"m{i}")["ts"])
        clock.advance(timedelta(minutes=1))

    # execution
    first = client.conversations_history(channel=channel, oldest=ts[0], limit=1)
    second = client.conversations_history(
        channel=channel, oldest=ts[0], limit=1, cursor=first["response_metadata"]["next_cursor"]
    )

    # validating: `oldest` is exclusive, pages go back in time
    assert [m["text"] for m in first["messages"]] == ["m2"]
    assert [m["text"] for m in second["messages"]] == ["m1"]
    assert second["has_more"] is False


def test_history_takes_ids_not_names(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        fake.web_client().conversations_history(channel="#platform")
    assert err.value.response["error"] == "channel_not_found"


def test_bad_metadata_is_refused(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        fake.web_client().chat_postMessage(channel="#platform", text="x", metadata={"k": 1})
    assert err.value.response["error"] == "invalid_metadata_schema"


def test_a_missing_scope_is_answered_as_slack_does(fake: FakeSlack) -> None:
    # setup
    fake.set_scopes(frozenset({"chat:write"}))

    # execution
    with pytest.raises(SlackApiError) as err:
        fake.web_client().conversations_history(channel=fake.dm_channel_id("alice"))

    # validating
    body = err.value.response
    assert (body["error"], body["needed"], body["provided"]) == (
        "missing_scope",
        "im:history",
        "chat:write",
    )


def test_a_response_url_dies_after_five_uses(fake: FakeSlack) -> None:
    url = fake.new_response_url(fake.channel_id("platform"), "alice")
    answers = [requests.post(url, json={"text": f"n{i}"}, timeout=5) for i in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [404]
    assert answers[-1].text == "used_url"


def test_a_response_url_expires_after_thirty_minutes_on_the_clock(
    fake: FakeSlack, clock: ManualClock
) -> None:
    url = fake.new_response_url(fake.channel_id("platform"), "alice")
    clock.advance(timedelta(minutes=30, seconds=1))
    answer = requests.post(url, json={"text": "late"}, timeout=5)
    assert (answer.status_code, answer.text) == (404, "expired_url")


def test_a_dropped_answer_after_the_call_still_posts(fake: FakeSlack) -> None:
    # setup
    fake.drop_next("chat.postMessage", after=True)

    # execution: the client sees no answer
    with pytest.raises(RemoteDisconnected):
        fake.web_client(retry_handlers=[]).chat_postMessage(channel="#platform", text="x")

    # validating: yet Slack has the message
    assert [m.text for m in fake.kept_messages()] == ["x"]
