"""Exactly-once effects: a signed slash command or modal submission replayed inside Slack's
5-minute window (same body, same trigger_id) changes nothing the second time."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import AccessRequest, Environment, Event
from bot.demo.signing import event_body, interaction_body, sign
from bot.wiring import Runtime
from tests.scenario.conftest import REQUEST_ID, SECRET, SlackClient, wait_for


def _count(sessions: sessionmaker[Session], model: type[object]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def _audited_objects(sessions: sessionmaker[Session]) -> int:
    """How many objects the audit trail has a row for (jobs may add later transitions)."""
    with sessions() as s:
        return int(s.scalar(select(func.count(func.distinct(Event.object_id)))) or 0)


def _replayed(slack_http: SlackClient, command: str, text: str) -> tuple[int, int, str]:
    body = slack_http.slash_body("alice", command, text)
    headers = sign(SECRET, body)
    first = slack_http.post(body, headers)
    replay = slack_http.post(body, headers)
    return first.status_code, replay.status_code, replay.text


def test_a_replayed_access_request_creates_one_request(
    slack_http: SlackClient, sessions: sessionmaker[Session]
) -> None:
    # execution
    first, replay, text = _replayed(slack_http, "/access", 'request sandbox admin 4h "debug it"')

    # validating
    assert (first, replay, text) == (200, 200, "")
    wait_for(lambda: _count(sessions, AccessRequest), what="the request row")
    assert _count(sessions, AccessRequest) == 1
    assert _count(sessions, Event) == 1


def test_a_replayed_env_create_creates_one_environment(
    slack_http: SlackClient, sessions: sessionmaker[Session]
) -> None:
    # execution
    first, replay, text = _replayed(slack_http, "/env", "create sandbox once")

    # validating
    assert (first, replay, text) == (200, 200, "")
    wait_for(lambda: _count(sessions, Environment), what="the environment row")
    assert _count(sessions, Environment) == 1
    assert _audited_objects(sessions) == 1


def test_a_replayed_modal_submission_creates_one_request(
    slack_http: SlackClient, sessions: sessionmaker[Session]
) -> None:
    # setup: the form opens because arguments are missing
    assert slack_http.command("alice", "/access", "request sandbox").status_code == 200
    view = wait_for(
        lambda: [
            v
            for v in slack_http.slack.open_modals("alice")
            if v.view["callback_id"] == "access_request"
        ],
        what="the access request modal",
    )[-1]
    fields = {"role": "admin", "duration": "4h", "reason": "upgrade"}
    sent: list[tuple[str, dict[str, str]]] = []
    original_post = slack_http.post

    def recording_post(body: str, headers: dict[str, str] | None = None):
        sent.append((body, headers or sign(SECRET, body)))
        return original_post(body, sent[-1][1])

    slack_http.post = recording_post  # type: ignore[method-assign]
    first = slack_http.submit("alice", view, fields)
    slack_http.post = original_post  # type: ignore[method-assign]

    # execution: the same signed submission again
    replay = slack_http.post(*sent[-1])

    # validating
    assert (first.status_code, replay.status_code, replay.text) == (200, 200, "")
    wait_for(lambda: _count(sessions, AccessRequest), what="the request row")
    assert _count(sessions, AccessRequest) == 1
    assert _count(sessions, Event) == 1


def test_a_command_that_says_payload_is_still_a_command(
    slack_http: SlackClient, sessions: sessionmaker[Session]
) -> None:
    # setup: Bolt reads any form body mentioning "payload" as an interaction
    body = slack_http.slash_body(
        "alice", "/access", 'request sandbox view 1h "fix the payload parser"'
    )

    cursor = slack_http.mark()

    # execution
    resp = slack_http.post(body, sign(SECRET, body))

    # validating: a 200, and the request was filed with its reason intact
    assert resp.status_code == 200
    wait_for(lambda: _count(sessions, AccessRequest), what="the request row")
    with sessions() as s:
        reasons = s.scalars(select(AccessRequest.reason)).all()
    assert reasons == ["fix the payload parser"]
    answers = wait_for(lambda: slack_http.ephemerals_since(cursor, "alice"), what="the answer")
    assert REQUEST_ID.search(answers[0].text)  # the private answer, at the response_url


def test_a_replayed_click_and_event_run_once_through_the_inbox(
    slack_http: SlackClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    # setup: a signed click (on a button whose value names no request) and a Home tab event
    caplog.set_level(logging.INFO, logger="handlers.intake")
    uid = slack_http.slack.user_id("alice")
    click = interaction_body(
        {
            "type": "block_actions",
            "team": {"id": "T0ENVBOT"},
            "user": {"id": uid},
            "trigger_id": slack_http.slack.new_trigger_id(uid),
            "response_url": slack_http.slack.new_response_url(
                slack_http.slack.channel_id("platform"), uid
            ),
            "actions": [
                {
                    "action_id": "approve",
                    "block_id": "request_actions",
                    "value": "rnone",
                    "action_ts": "1.5",
                }
            ],
        }
    )
    event = event_body({"type": "app_home_opened", "user": uid, "tab": "home"}, "Ev0REPLAY", 0)
    signed = [
        (click, sign(SECRET, click)),
        (event, sign(SECRET, event, content_type="application/json")),
    ]

    # execution: each delivered, then the same signed body again
    statuses = [slack_http.post(body, headers).status_code for body, headers in signed * 2]

    # validating: all acked; each replay dropped as a duplicate, before any work
    assert statuses == [200] * 4
    assert len(slack_http.slack.calls_to("views.publish")) == 1
    dropped = [r for r in caplog.records if r.getMessage() == "dropped a duplicate Slack delivery"]
    assert sorted(str(getattr(r, "dedupe_key", "")).split(":")[0] for r in dropped) == [
        "action",
        "event",
    ]
    assert runtime.app.intake.inbox.pending() == 0
