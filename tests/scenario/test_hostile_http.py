"""Hostile traffic at the signed-HTTP edge: garbage, forgeries and malformed-but-signed requests
get a 4xx (or an empty 200) and one log line, never a 500 or a logged traceback."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from bot.demo.signing import interaction_body, sign
from bot.domain.clock import ManualClock
from bot.server import HttpServer
from bot.wiring import Runtime
from handlers.edge import MAX_BODY, EdgeRules, slack_edge
from tests.scenario.conftest import DEADLINE, SECRET, SlackClient, wait_for


def _signed(raw: bytes, timestamp: str | None = None, secret: str = SECRET) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest.hexdigest()}"}


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    [
        "type",
        "user",
        "team",
        "actions",
        "view",
        "event",
        "trigger_id",
        "response_url",
        "command",
        "user_id",
        "team_id",
        "enterprise",
        "channel",
        "authorizations",
        "container",
    ]
)
SLACKISH = st.dictionaries(KEYS | st.text(max_size=8), JSON, max_size=8)
BODIES = st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=6).map(
        lambda d: urlencode(d).encode()
    ),
    (JSON | SLACKISH).map(lambda p: urlencode({"payload": json.dumps(p)}).encode()),
    (JSON | SLACKISH).map(lambda p: json.dumps(p).encode()),
    st.dictionaries(KEYS, st.text(max_size=20), max_size=8).map(lambda d: urlencode(d).encode()),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=BODIES,
    signing=st.sampled_from(["valid", "forged", "none", "garbage-ts", "stale"]),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain", None]
    ),
    junk=st.dictionaries(
        st.sampled_from(["X-Slack-Retry-Num", "Content-Type"]),
        st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=10),
        max_size=2,
    ),
)
def test_fuzzed_requests_never_crash(
    slack_http: SlackClient,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    signing: str,
    content_type: str | None,
    junk: dict[str, str],
) -> None:
    # setup
    headers: dict[str, str] = {}
    if signing == "valid":
        headers = _signed(body)
    elif signing == "forged":
        headers = _signed(body, secret="not-the-secret")
    elif signing == "garbage-ts":
        headers = {**_signed(body), "X-Slack-Request-Timestamp": "abc"}
    elif signing == "stale":
        headers = _signed(body, timestamp=str(int(time.time()) - 600))
    if content_type:
        headers["Content-Type"] = content_type
    headers |= junk

    # execution
    resp = requests.post(
        f"{slack_http.url}/slack/events", data=body, headers=headers, timeout=DEADLINE
    )

    # validating: the worker that runs what the edge let through has finished too (its
    # errors are logged after the ack, so they would race the assertion otherwise)
    assert slack_http.settle()
    assert resp.status_code < 500, (resp.status_code, body[:200])
    if signing != "valid":
        assert resp.status_code == 401
    assert _tracebacks(caplog) == []


def _click(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": "T0ENVBOT"},
        "user": {"id": "U0ALICE"},
        "trigger_id": "1.2.3",
        "response_url": "http://127.0.0.1:1/nowhere",
        "actions": [{"action_id": "approve", "block_id": "request_actions", "value": "r1"}],
    }
    return {k: v for k, v in (payload | overrides).items() if v is not None}


def _slash(slack_http: SlackClient, **drop: bool) -> bytes:
    fields = dict(
        pair.split("=", 1) for pair in slack_http.slash_body("alice", "/env", "help").split("&")
    )
    return "&".join(f"{k}={v}" for k, v in fields.items() if k not in drop).encode()


MALFORMED: dict[str, Any] = {
    "payload-not-json": b"payload=%7Bnot+json",
    "json-array": b'[{"type": "block_actions"}]',
    "payload-array": urlencode({"payload": "[1, 2]"}).encode(),
    "not-utf8": b"payload=\xff\xfe\xfa",
    "deep-nesting": b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
    "team-a-number": interaction_body(_click(team=7)).encode(),
    "no-user": interaction_body(_click(user=None)).encode(),
    "user-a-string": interaction_body(_click(user="U0ALICE")).encode(),
    "no-trigger": interaction_body(_click(trigger_id=None)).encode(),
    "actions-not-a-list": interaction_body(_click(actions={"action_id": "approve"})).encode(),
    "view-without-callback": interaction_body(
        _click(type="view_submission", actions=None, view={"state": {"values": []}})
    ).encode(),
    # Bolt reads `view["type"]` of every submission, and a workflow_step view's `workflow_step`
    "view-without-type": interaction_body(
        _click(type="view_submission", actions=None, view={"callback_id": "access_request"})
    ).encode(),
    "workflow-step-view-without-step": interaction_body(
        _click(
            type="view_submission",
            actions=None,
            view={"type": "workflow_step", "callback_id": "access_request"},
        )
    ).encode(),
    "unknown-type": json.dumps({"type": "nonsense", "team_id": "T0ENVBOT"}).encode(),
    # Values no database column takes: a NUL (PostgreSQL text), NaN (PostgreSQL json), a lone
    # surrogate (not UTF-8 at all); Slack sends none of them, and one would fail the inbox
    # insert of every request committed in the same batch.
    "nul-in-a-value": interaction_body(_click(trigger_id="1.2\x003")).encode(),
    "nan-in-a-value": b'{"type": "event_callback", "event_id": "Ev1", "x": NaN,'
    b' "event": {"type": "app_home_opened", "user": "U0ALICE"}}',
    "lone-surrogate": b'{"type": "event_callback", "event_id": "Ev\\ud800",'
    b' "event": {"type": "app_home_opened", "user": "U0ALICE"}}',
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_signed_requests_are_400_with_one_log_line(
    slack_http: SlackClient, caplog: pytest.LogCaptureFixture, raw: bytes
) -> None:
    # execution
    resp = requests.post(
        f"{slack_http.url}/slack/events", data=raw, headers=_signed(raw), timeout=DEADLINE
    )

    # validating
    assert resp.status_code == 400
    refused = [r for r in caplog.records if r.name == "handlers.edge"]
    assert len(refused) == 1
    assert _tracebacks(caplog) == []


@pytest.mark.parametrize("missing", ["user_id", "response_url", "trigger_id"])
def test_slash_command_missing_a_field_is_400(
    slack_http: SlackClient, caplog: pytest.LogCaptureFixture, missing: str
) -> None:
    raw = _slash(slack_http, **{missing: True})
    resp = requests.post(
        f"{slack_http.url}/slack/events", data=raw, headers=_signed(raw), timeout=DEADLINE
    )
    assert resp.status_code == 400
    assert slack_http.slack.calls_to("response_url") == []
    assert _tracebacks(caplog) == []


def test_app_home_opened_without_user_is_ignored(
    slack_http: SlackClient, caplog: pytest.LogCaptureFixture
) -> None:
    # execution
    resp = slack_http.event({"type": "app_home_opened", "tab": "home"}, "Ev0NOUSER")

    # validating: acked, one warning from the listener, no Home tab published, no traceback
    assert resp.status_code == 200
    wait_for(lambda: any("without a user" in r.getMessage() for r in caplog.records))
    assert slack_http.slack.calls_to("views.publish") == []
    assert _tracebacks(caplog) == []


def test_a_huge_ttl_is_a_user_error(
    slack_http: SlackClient, caplog: pytest.LogCaptureFixture
) -> None:
    answer = slack_http.ask("alice", "/env", "create sandbox big --ttl 9223372036854775808s")
    assert '"9223372036854775808s" is not a duration' in answer
    assert "Something went wrong" not in answer
    assert _tracebacks(caplog) == []


def test_a_garbage_timestamp_is_401(
    slack_http: SlackClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = slack_http.slash_body("alice", "/env", "help")
    headers = sign(SECRET, body) | {"X-Slack-Request-Timestamp": "abc"}
    assert slack_http.post(body, headers).status_code == 401
    assert _tracebacks(caplog) == []


def test_an_over_limit_body_is_413(server: HttpServer, runtime: Runtime) -> None:
    # execution: over the wire (Content-Length says too much), and through the WSGI edge with
    # no Content-Length at all, where the limit is enforced while reading
    over = b"x" * (MAX_BODY + 1)
    wire = requests.post(
        f"{server.url}/slack/events", data=over, headers=_signed(over), timeout=DEADLINE
    )
    statuses: list[str] = []
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "wsgi.input": io.BytesIO(over),
        **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in _signed(over).items()},
    }
    edge = slack_edge(runtime.app, EdgeRules(SECRET))
    body = b"".join(edge(environ, lambda status, headers: statuses.append(status)))

    # validating
    assert wire.status_code == 413
    assert statuses == ["413 Payload Too Large"]
    assert body == b""


@pytest.fixture
def pinned(runtime: Runtime) -> Iterator[str]:
    """The same app behind an edge pinned to workspace T0ENVBOT."""
    srv = HttpServer(slack_edge(runtime.app, EdgeRules(SECRET, team_id="T0ENVBOT")), "127.0.0.1", 0)
    srv.start()
    yield srv.url
    srv.stop()


def test_a_signed_request_from_another_team_is_403(
    pinned: str, slack_http: SlackClient, caplog: pytest.LogCaptureFixture
) -> None:
    # setup
    ours = slack_http.slash_body("alice", "/env", "help")
    theirs = ours.replace("T0ENVBOT", "T0EVIL")
    click = interaction_body(_click(team={"id": "T0EVIL"}))

    # execution
    def post(body: str) -> int:
        headers = sign(SECRET, body)
        return requests.post(
            f"{pinned}/slack/events", data=body, headers=headers, timeout=9
        ).status_code

    results = [post(theirs), post(click), post(ours)]

    # validating: only our own workspace's command gets through
    assert results == [403, 403, 200]
    assert _tracebacks(caplog) == []


# Bodies the edge lets through (Slack's documented shapes allow them) that the listeners and
# the workers must read without raising: a `channel` sent as a bare id, on a button that runs
# in a worker (approve) and on one that runs in the listener (deny opens its form).
ADMITTED: dict[str, dict[str, Any]] = {
    "channel-a-string": _click(channel="C0PLAT"),
    "channel-a-string-deny": _click(
        channel="C0PLAT",
        actions=[{"action_id": "deny", "block_id": "request_actions", "value": "r1"}],
    ),
}


@pytest.mark.parametrize("payload", ADMITTED.values(), ids=ADMITTED.keys())
def test_admitted_odd_bodies_are_answered_without_a_traceback(
    slack_http: SlackClient, runtime: Runtime, caplog: pytest.LogCaptureFixture, payload: Any
) -> None:
    # execution
    raw = interaction_body(payload).encode()
    resp = requests.post(
        f"{slack_http.url}/slack/events", data=raw, headers=_signed(raw), timeout=DEADLINE
    )
    assert slack_http.settle()

    # validating: acked, the press answered (its value names no request), nothing left in the
    # inbox to be run again, no traceback
    assert resp.status_code == 200
    assert runtime.app.intake.inbox.pending() == 0
    assert _tracebacks(caplog) == []


def test_a_worker_bug_on_a_body_is_logged_once_and_dropped_not_run_five_times(
    runtime: Runtime, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    # setup: work that trips over its body, as a listener's bug on an odd admitted body would,
    # and work whose database is down for now
    intake = runtime.app.intake
    runs: list[str] = []

    def trips(body: dict[str, Any]) -> None:
        runs.append("trips")
        body["channel"].get("id")

    def database_down(body: dict[str, Any]) -> None:
        runs.append("down")
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    intake.register("trips", trips)
    intake.register("down", database_down)

    # execution: both acknowledged; then the inbox job after the lease
    intake.take("trips", "trips:1", {"channel": "C0PLAT"})
    intake.take("down", "down:1", {})
    assert intake.wait_idle()
    clock.advance(intake.inbox.lease * 2)
    intake.resume_due()
    assert intake.wait_idle()

    # validating: the bug is one log line and gone; the outage is run again after the lease
    assert sorted(runs) == ["down", "down", "trips"]
    tripped = [r for r in caplog.records if getattr(r, "dedupe_key", "") == "trips:1"]
    assert [r.getMessage() for r in tripped] == ["dropped an inbox row its work cannot run"]
    assert intake.inbox.pending() == 1
