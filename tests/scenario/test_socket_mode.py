"""Socket Mode gets the HTTP edge's checks (`handlers.gate`): a fake Socket Mode server on a
loopback WebSocket pushes real envelopes to the real `envbot` app through slack_sdk's client;
foreign teams and malformed payloads are acknowledged empty with one log line, never a
traceback, and never reach a listener."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.web import WebClient

from bot.demo.fake_slack import FakeSlack
from bot.domain.clock import ManualClock
from bot.policy import Policy
from bot.slack.directory import SlackDirectory
from bot.wiring import Runtime, build_runtime
from handlers.socket_mode import CheckedSocketModeHandler
from handlers.transport import connect_socket_mode
from provisioning.base import AccessBackend, EnvironmentBackend
from tests.fakes.slack_socket_mode import FakeSocketMode
from tests.scenario.conftest import JOBS, SECRET, wait_for
from tests.scenario.test_hostile_http import JSON, SLACKISH

TEAM = "T0ENVBOT"


@pytest.fixture
def pinned(
    policy: Policy,
    database_url: str,
    engine: Any,
    fake_slack: FakeSlack,
    clock: ManualClock,
    env_backends: dict[str, EnvironmentBackend],
    access_backends: dict[str, AccessBackend],
) -> Iterator[Runtime]:
    """The runtime `envbot serve` builds, installed in workspace T0ENVBOT."""
    client = fake_slack.web_client()
    runtime = build_runtime(
        policy=policy,
        database_url=database_url,
        client=client,
        directory=SlackDirectory(client, ttl=0),
        signing_secret=SECRET,
        clock=clock,
        team_id=TEAM,
        env_backends=env_backends,
        access_backends=access_backends,
        job_settings=JOBS,
    )
    yield runtime
    runtime.close()


@pytest.fixture
def socket(pinned: Runtime) -> Iterator[FakeSocketMode]:
    """The app connected to the fake over a loopback WebSocket, as `serve` connects it."""
    fake = FakeSocketMode().start()
    close = connect_socket_mode(pinned.app, "xapp-1-test", WebClient(base_url=fake.api_url))
    fake.wait_connected()
    yield fake
    close()  # up to 3 s: slack_sdk's client waits out its receive timeout
    fake.stop()


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "handlers.socket_mode"]


def _home_opened(user: str, team: str = TEAM) -> dict[str, Any]:
    return {
        "token": "unused",
        "team_id": team,
        "api_app_id": "A0ENVBOT",
        "type": "event_callback",
        "event_id": f"Ev{team}{user}",
        "event_time": 1,
        "event": {"type": "app_home_opened", "user": user, "tab": "home"},
    }


def _slash(slack: FakeSlack, text: str, team: str = TEAM) -> dict[str, Any]:
    uid, channel = slack.user_id("alice"), slack.channel_id("platform")
    return {
        "token": "unused",
        "team_id": team,
        "channel_id": channel,
        "user_id": uid,
        "user_name": "alice",
        "command": "/env",
        "text": text,
        "api_app_id": "A0ENVBOT",
        "response_url": slack.new_response_url(channel, uid),
        "trigger_id": slack.new_trigger_id(uid),
    }


def test_our_workspace_is_served_and_another_is_refused(
    socket: FakeSocketMode,
    fake_slack: FakeSlack,
    pinned: Runtime,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # setup
    alice = fake_slack.user_id("alice")

    # execution
    theirs = socket.ack(socket.send("events_api", _home_opened(alice, team="T0EVIL")))
    their_slash = socket.ack(socket.send("slash_commands", _slash(fake_slack, "help", "T0EVIL")))
    ours = socket.ack(socket.send("events_api", _home_opened(alice)))
    our_slash = socket.ack(socket.send("slash_commands", _slash(fake_slack, "help")))
    wait_for(lambda: fake_slack.calls_to("views.publish"), what="our Home tab")

    # validating: the foreign ones acknowledged empty, logged once each, and never dispatched
    assert set(theirs) == set(their_slash) == {"envelope_id"}
    assert set(ours) == {"envelope_id"}
    # the command is recorded and acked empty; a worker answers at its response_url
    assert set(our_slash) == {"envelope_id"}
    assert pinned.app.intake.wait_idle()
    pinned.jobs.advance(clock, timedelta(seconds=1))  # the outbox drain
    answers = [c.params.get("text", "") for c in fake_slack.calls_to("response_url")]
    assert any("/env commands" in str(text) for text in answers), answers
    assert len(fake_slack.calls_to("views.publish")) == 1
    refusals = _refusals(caplog)
    assert [("T0EVIL" in r) for r in refusals] == [True, True], refusals
    assert _tracebacks(caplog) == []


MALFORMED: dict[str, tuple[str, Any]] = {
    "payload-a-list": ("interactive", [1, 2]),
    "payload-a-number": ("events_api", 7),
    "team-a-number": ("interactive", {"type": "block_actions", "team": 7, "user": {"id": "U1"}}),
    "no-user": ("interactive", {"type": "block_actions", "team": {"id": TEAM}, "actions": []}),
    "actions-not-a-list": (
        "interactive",
        {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": "U1"},
            "trigger_id": "1.2.3",
            "actions": {"action_id": "approve"},
        },
    ),
    "slash-without-user": ("slash_commands", {"command": "/env", "team_id": TEAM, "text": "x"}),
    "unknown-type": ("events_api", {"type": "nonsense", "team_id": TEAM}),
    "event-without-event": ("events_api", {"type": "event_callback", "team_id": TEAM}),
}


def test_malformed_payloads_and_frames_are_acked_empty_with_one_log_line(
    socket: FakeSocketMode, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    # execution: each malformed envelope, a garbled frame, then a good envelope
    acks = {
        name: socket.ack(socket.send(kind, payload)) for name, (kind, payload) in MALFORMED.items()
    }
    socket.send_raw('{"envelope_id": "e1", "payload": ')
    ours = socket.ack(socket.send("events_api", _home_opened(fake_slack.user_id("alice"))))
    wait_for(lambda: len(_refusals(caplog)) == len(MALFORMED) + 1, what="the refusals")

    # validating: every malformed one acknowledged with nothing, and the connection lives on
    assert {name: set(ack) for name, ack in acks.items()} == {
        name: {"envelope_id"} for name in MALFORMED
    }
    assert set(ours) == {"envelope_id"}
    refusals = _refusals(caplog)
    assert refusals.count("refused a Socket Mode frame: it is not JSON") == 1
    assert len(refusals) == len(MALFORMED) + 1
    assert _tracebacks(caplog) == []


@pytest.fixture
def handler(pinned: Runtime) -> Iterator[CheckedSocketModeHandler]:
    """The handler `serve` connects, not connected: the fuzz drives its client's listener
    step synchronously (what slack_sdk runs on its pool for every frame), acks going nowhere."""
    checked = CheckedSocketModeHandler(pinned.app, "xapp-1-test", pinned.app.edge)
    sent: list[str] = []
    checked.client.send_message = sent.append  # type: ignore[method-assign,assignment]
    yield checked
    checked.close()  # type: ignore[no-untyped-call]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(["events_api", "slash_commands", "interactive", "nonsense"]),
    payload=JSON | SLACKISH,
    envelope_id=st.one_of(st.text(max_size=8), st.integers(), st.none()),
    retry=st.one_of(st.none(), st.integers(), st.text(max_size=4)),
)
def test_fuzzed_envelopes_never_crash(
    handler: CheckedSocketModeHandler,
    pinned: Runtime,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    payload: Any,
    envelope_id: Any,
    retry: Any,
) -> None:
    # setup
    message = {"envelope_id": envelope_id, "type": kind, "payload": payload, "retry_attempt": retry}

    # execution
    handler.client.run_message_listeners(message, json.dumps(message))

    # validating: what was admitted has also been run by its worker
    assert pinned.app.intake.wait_idle()
    assert _tracebacks(caplog) == []
