"""The fallback answer over signed HTTP: queued with a command's first write, withdrawn by its
real answer (exactly one answer, never the fallback), and sent after the inbox lease when the
worker never got to its answer; a one-shot press whose run died between its claim and its action
acts when the row is run again. A real `kill -9` between effect and answer:
tests/integration/test_crash.py (`answer-held`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select

from bot.db.models import OutboxMessage
from bot.services.inbox import InboxLost
from bot.slack.presses import ButtonRouter
from bot.wiring import Runtime
from handlers import intake
from handlers.fallback import MARK, PURPOSE
from tests.scenario.conftest import SlackClient, buttons, wait_for
from tests.scenario.test_environments import World, world  # noqa: F401  (the fixture)

PAST_LEASE = timedelta(seconds=61)  # the inbox lease is 60 s by default


def _answers(http: SlackClient, word: str) -> list[str]:
    return [str(c.params) for c in http.slack.calls_to("response_url") if word in str(c.params)]


def _fallback_rows(runtime: Runtime) -> list[str]:
    with runtime.services.sessions() as s:
        return list(s.scalars(select(OutboxMessage.status).where(OutboxMessage.purpose == PURPOSE)))


def test_a_command_is_answered_once_and_its_fallback_never_sent(
    slack_http: SlackClient, runtime: Runtime
) -> None:
    # execution: a command whose first write is its effect (the environment and its card), and
    # one whose first write is its answer (a listing writes nothing else); then past the lease
    slack_http.command("alice", "/env", "create sandbox --reason first")
    wait_for(lambda: _answers(slack_http, "sandbox"), what="the create answer")
    slack_http.command("alice", "/env", "list")
    wait_for(lambda: len(slack_http.slack.calls_to("response_url")) >= 2, what="the list answer")
    runtime.jobs.advance(slack_http.clock, PAST_LEASE)

    # validating: one answer each, no fallback sent, and none left queued or sent
    assert len(slack_http.slack.calls_to("response_url")) == 2
    assert _answers(slack_http, MARK) == []
    assert _fallback_rows(runtime) == []


def test_a_click_is_answered_once_and_its_fallback_never_sent(
    slack_http: SlackClient, runtime: Runtime
) -> None:
    # setup: a prod-cluster request's card, waiting for carol's approval
    slack_http.command("alice", "/env", "create prod-cluster fb --reason click")
    runtime.jobs.advance(slack_http.clock, timedelta(seconds=5))
    approvals = slack_http.slack.channel_id("production-approvals")
    (card,) = [m for m in slack_http.slack.history(approvals) if m.text.startswith("fb:")]
    before = len(slack_http.slack.calls_to("response_url"))

    # execution: carol's Approve (its first write is the decision), then past the lease
    answer = slack_http.press("carol", card, "approve")
    runtime.jobs.advance(slack_http.clock, PAST_LEASE)

    # validating
    assert MARK not in answer
    assert len(slack_http.slack.calls_to("response_url")) == before + 1
    assert _answers(slack_http, MARK) == []
    assert _fallback_rows(runtime) == []


def test_a_worker_that_dies_after_its_first_write_leaves_the_fallback(
    slack_http: SlackClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup: the worker's answer transaction never happens (as if the process died after the
    # effect's commit); the effect and the fallback committed together
    def died(*_args: Any) -> bool:
        raise OSError("the process died here")

    monkeypatch.setattr(intake, "queue_answer", died)

    # execution
    slack_http.command("alice", "/env", "create sandbox --reason lost")
    assert _fallback_rows(runtime) == ["pending"]
    runtime.jobs.advance(slack_http.clock, timedelta(seconds=30))
    early = _answers(slack_http, MARK)
    runtime.jobs.advance(slack_http.clock, PAST_LEASE)

    # validating: nothing before the lease; then the fallback, once, saying what to do
    assert early == []
    (sent,) = _answers(slack_http, MARK)
    assert "/env create sandbox --reason lost" in sent
    assert "/env list" in sent
    assert _fallback_rows(runtime) == ["sent"]


def test_a_one_shot_press_whose_run_died_after_its_claim_acts_when_run_again(
    world: World,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # setup: alice's sandbox and its delete confirmation; the first run of her press dies
    # after it claimed the confirmation and before its action wrote anything (nothing of the
    # action commits; the run ends as a run that lost its row does)
    world.create("alice", 'sandbox doomed --reason "scenario"')
    world.advance(timedelta(minutes=30))
    env = world.env("doomed")
    assert env.state == "READY"
    alice = world.slack.user_id("alice")
    world.http.ask("alice", "/env", "delete doomed")
    (confirm,) = [
        m
        for m in world.slack.visible_messages(alice)
        if m.ephemeral_to == alice and m.text.startswith("Delete doomed?")
    ]
    press = ButtonRouter.press
    died: list[str] = []

    def dies_once(self: ButtonRouter, pressed: Any) -> Any:
        if not died:
            died.append(pressed.action_id)
            raise InboxLost("the worker died after the claim")
        return press(self, pressed)

    monkeypatch.setattr(ButtonRouter, "press", dies_once)
    (button,) = [b for b in buttons(confirm.blocks) if b["action_id"] == "delete_now"]

    # execution: the press, then past the inbox lease: the inbox job runs the row again
    world.http.click("alice", confirm, button)
    assert died
    world.advance(PAST_LEASE)
    world.runtime.app.intake.wait_idle()
    world.jobs()
    again = world.http.press("alice", confirm, "delete_now")

    # validating: the run again found its own claim and deleted once; a later press is told
    assert sum(1 for e in world.events(env.id) if e.to_state == "DELETING") == 1
    assert _answers(world.http, "Deleting `doomed`")
    assert "Already done by" in again


def test_a_run_that_wrote_but_queued_no_answer_withdraws_its_fallback(
    slack_http: SlackClient, runtime: Runtime
) -> None:
    # setup: work that writes (a DM, as work that answers some other way does) and returns no
    # answer for the response_url
    intake = runtime.app.intake
    intake.register(
        "dm-only", lambda body: runtime.services.notify_user(body["user_id"], {"text": "by DM"})
    )
    body = dict(parse_qsl(slack_http.slash_body("alice", "/env", "list")))

    # execution: the row, run by a worker; then past the lease
    assert intake.take("dm-only", "dm-only:1", body) is None
    intake.wait_idle()
    runtime.jobs.advance(slack_http.clock, PAST_LEASE)

    # validating: the DM went, the fallback was withdrawn at the end of the run, never sent
    assert [c for c in slack_http.slack.calls_to("chat.postMessage") if "by DM" in str(c.params)]
    assert _fallback_rows(runtime) == []
    assert slack_http.slack.calls_to("response_url") == []
