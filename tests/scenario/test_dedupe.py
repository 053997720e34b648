"""Inbound dedupe: Events API retries and replayed clicks reach their listener once."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from slack_bolt import Ack, App
from slack_bolt.request import BoltRequest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import InboundKey
from bot.demo.fake_slack import FakeSlack
from bot.demo.signing import interaction_body, sign
from bot.domain.clock import ManualClock
from bot.services.inbound import delivery_key
from handlers.dedupe import register_dedupe

SECRET = "dedupe-secret"


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[FakeSlack]:
    with FakeSlack(now=clock.now) as slack:
        yield slack


@pytest.fixture
def counts() -> dict[str, int]:
    return {"home": 0, "approve": 0}


@pytest.fixture
def app(
    fake: FakeSlack, sessions: sessionmaker[Session], clock: ManualClock, counts: dict[str, int]
) -> App:
    bolt = App(
        signing_secret=SECRET,
        token_verification_enabled=False,
        client=fake.web_client(),
        process_before_response=True,
    )
    register_dedupe(bolt, sessions, clock)

    @bolt.event("app_home_opened")
    def on_home() -> None:
        counts["home"] += 1

    @bolt.action("approve")
    def on_approve(ack: Ack) -> None:
        ack()
        counts["approve"] += 1

    return bolt


def _event(event_id: str) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "team_id": "T0ENVBOT",
        "api_app_id": "A0ENVBOT",
        "event_id": event_id,
        "event_time": 1767603600,
        "event": {
            "type": "app_home_opened",
            "user": "U0ALICE",
            "channel": "D0ALICE",
            "tab": "home",
        },
    }


def _click(action_ts: str = "1767603600.000100") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T0ENVBOT"},
        "user": {"id": "U0BOB"},
        "api_app_id": "A0ENVBOT",
        "container": {"type": "message", "message_ts": "1767603500.000100", "channel_id": "C0"},
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "block_id": "request_actions",
                "action_id": "approve",
                "value": "r7k2qm",
                "action_ts": action_ts,
            }
        ],
    }


def _request(raw: str, headers: dict[str, str]) -> BoltRequest:
    as_sent: dict[str, str | Sequence[str]] = dict(headers)
    return BoltRequest(body=raw, headers=as_sent)


def _post_event(app: App, body: dict[str, Any], retry: int | None = None) -> int:
    raw = json.dumps(body)
    headers: dict[str, str] = sign(SECRET, raw, content_type="application/json")
    if retry is not None:
        headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
    return app.dispatch(_request(raw, headers)).status


def _post_click(app: App, payload: dict[str, Any]) -> tuple[int, str]:
    raw = interaction_body(payload)
    resp = app.dispatch(_request(raw, sign(SECRET, raw)))
    return resp.status, resp.body


def test_a_retried_event_runs_its_listener_once(app: App, counts: dict[str, int]) -> None:
    # execution: the first delivery, then Slack's retry of the same event_id
    first = _post_event(app, _event("Ev0001"))
    retry = _post_event(app, _event("Ev0001"), retry=1)
    # validating
    assert (first, retry) == (200, 200)
    assert counts["home"] == 1


def test_two_events_run_twice(app: App, counts: dict[str, int]) -> None:
    _post_event(app, _event("Ev0001"))
    _post_event(app, _event("Ev0002"))
    assert counts["home"] == 2


def test_a_replayed_click_runs_once_and_a_new_click_runs_again(
    app: App, counts: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    # execution
    first = _post_click(app, _click())
    replay = _post_click(app, _click())
    second_click = _post_click(app, _click(action_ts="1767603601.000100"))
    # validating: the replay is acked with an empty 200; a real second click is a new delivery
    assert first[0] == 200
    assert replay == (200, "")
    assert second_click[0] == 200
    assert counts["approve"] == 2
    with sessions() as s:
        assert (
            s.scalar(select(func.count()).select_from(InboundKey)) == 2
        )  # the replay added no row


def test_a_badly_signed_retry_is_rejected_before_dedupe(
    app: App, counts: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    raw = json.dumps(_event("Ev0009"))
    headers = sign("wrong-secret", raw, content_type="application/json")
    assert app.dispatch(_request(raw, headers)).status == 401
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboundKey)) == 0
    assert _post_event(app, _event("Ev0009")) == 200
    assert counts["home"] == 1


def test_keys_are_bounded_and_only_for_events_and_clicks() -> None:
    assert delivery_key({"type": "event_callback", "event_id": "Ev1"}) == "event:Ev1"
    assert delivery_key({"type": "view_submission"}) is None
    assert delivery_key({"type": "url_verification", "challenge": "x"}) is None
    long = delivery_key({"type": "event_callback", "event_id": "E" * 500})
    assert long is not None
    assert len(long) <= 200
    click = delivery_key(_click() | {"actions": [dict(_click()["actions"][0], value="v" * 3000)]})
    assert click is not None
    assert len(click) <= 200
