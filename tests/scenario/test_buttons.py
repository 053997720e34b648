"""Button payloads over signed HTTP: bare-id values posted before `<kind>:<id>` keep working, and a
value that does not fit its block, its Home tab row or any workflow is refused with a clear answer
that changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import AccessRequest, Environment, Event
from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_store import Message
from bot.domain.clock import ManualClock
from bot.wiring import Runtime
from tests.scenario.conftest import ScenarioClock, SlackClient, buttons, message_text, wait_for


@dataclass
class World(ScenarioClock):
    http: SlackClient
    slack: FakeSlack
    runtime: Runtime
    clock: ManualClock
    sessions: sessionmaker[Session]

    def click(
        self, user: str, msg: Message, action_id: str, block_id: str, value: str
    ) -> tuple[int, str]:
        """Press a button as Slack would send it, with any block and value; (status, answer)."""
        button: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id,
            "value": value,
            "text": {"type": "plain_text", "text": action_id},
        }
        # A second real click has a new action_ts; without it the dedupe drops the press.
        self.clock.set(self.clock.now() + timedelta(seconds=1))
        cursor = self.http.mark()
        resp = self.http.click(user, msg, button)
        got = wait_for(lambda: self.http.answers_since(cursor, user, msg), what="the answer")
        return resp.status_code, message_text(got[0].text, got[0].blocks)

    def env(self, name: str) -> Environment:
        with self.sessions() as s:
            return s.scalars(select(Environment).where(Environment.name == name)).one()

    def req(self, req_id: str) -> AccessRequest:
        with self.sessions() as s:
            req = s.get(AccessRequest, req_id)
        assert req is not None, req_id
        return req

    def ready(self, name: str) -> Environment:
        self.http.ask("alice", "/env", f'create sandbox {name} --reason "scenario"')
        self.jobs()
        self.advance(timedelta(minutes=30))
        env = self.env(name)
        assert env.state == "READY"
        return env

    def card(self, channel: str, starts: str) -> Message:
        (card,) = [
            m
            for m in self.slack.history(self.slack.channel_id(channel))
            if m.text.startswith(starts)
        ]
        return card

    def pending_env(self, name: str) -> tuple[Environment, Message]:
        """alice's prod-cluster environment, waiting for carol (the production owner)."""
        self.http.ask("alice", "/env", f'create prod-cluster {name} --reason "scenario"')
        self.jobs()
        env = self.env(name)
        assert env.state == "PENDING_APPROVAL"
        return env, self.card("production-approvals", f"{name}:")

    def snapshot(self) -> tuple[list[tuple[str, str]], int]:
        """Every object's state and the number of audit rows: a refused press changes neither."""
        with self.sessions() as s:
            envs = s.execute(select(Environment.id, Environment.state)).all()
            reqs = s.execute(select(AccessRequest.id, AccessRequest.state)).all()
            events = s.scalar(select(func.count()).select_from(Event)) or 0
        return sorted((i, st) for i, st in [*envs, *reqs]), events


@pytest.fixture
def world(
    slack_http: SlackClient,
    fake_slack: FakeSlack,
    runtime: Runtime,
    clock: ManualClock,
    sessions: sessionmaker[Session],
) -> World:
    return World(slack_http, fake_slack, runtime, clock, sessions)


def test_buttons_carry_kind_and_id(world: World) -> None:
    # setup
    env, card = world.pending_env("kinds")
    req_id = world.request("alice", 'sandbox view 1d "read the logs"')
    req_card = world.card("sandbox-approvals", f"Access request {req_id}:")

    # validating
    assert {(b["block_id"], b["value"]) for b in buttons(card.blocks)} == {
        ("env_actions", f"env:{env.id}")
    }
    assert {(b["block_id"], b["value"]) for b in buttons(req_card.blocks)} == {
        ("request_actions", f"access:{req_id}")
    }


def test_legacy_bare_ids_still_approve_extend_and_delete(world: World) -> None:
    # setup: buttons as they were posted before values named their kind
    pending, card = world.pending_env("legacy-approve")
    ready = world.ready("legacy-extend")
    req_id = world.request("alice", 'sandbox view 1d "read the logs"')
    req_card = world.card("sandbox-approvals", f"Access request {req_id}:")
    world.http.ask("alice", "/env", "delete legacy-extend")
    alice = world.slack.user_id("alice")
    (confirm,) = [
        m
        for m in world.slack.visible_messages(alice)
        if m.ephemeral_to == alice and m.text.startswith("Delete legacy-extend?")
    ]

    # execution
    approved_env = world.click("carol", card, "approve", "env_actions", pending.id)
    approved_req = world.click("bob", req_card, "approve", "request_actions", req_id)
    world.jobs()
    # a reminder's block names no kind: the id is looked up in each workflow
    extended_env = world.click("alice", card, "extend", "reminder_actions", ready.id)
    extended_req = world.click("alice", req_card, "extend", "reminder_actions", req_id)
    from_home = world.click("alice", card, "extend", f"home_{ready.id}", ready.id)
    deleting = world.click("alice", confirm, "delete_now", "env_delete_confirm", ready.id)

    # validating
    answers = [approved_env, approved_req, extended_env, extended_req, from_home, deleting]
    assert [status for status, _ in answers] == [200] * len(answers)
    assert "Approved `legacy-approve`; provisioning starts now." in approved_env[1]
    assert world.env("legacy-approve").state == "PROVISIONING"
    assert f"Approved `{req_id}`" in approved_req[1]
    assert world.req(req_id).state == "ACTIVE"
    assert "Extended `legacy-extend`" in extended_env[1]
    assert f"Extended `{req_id}`" in extended_req[1]
    assert "Extended `legacy-extend`" in from_home[1]
    assert world.env("legacy-extend").expires_at == ready.expires_at + timedelta(days=4)
    assert "Deleting `legacy-extend`; the thread shows when it is gone." in deleting[1]
    assert world.env("legacy-extend").state == "DELETING"


def test_a_value_whose_kind_does_not_match_its_block_is_refused(world: World) -> None:
    # setup
    env, card = world.pending_env("mismatch")
    req_id = world.request("alice", 'production admin 2h "check the release"')
    req_card = world.card("production-approvals", f"Access request {req_id}:")
    before = world.snapshot()

    # execution: carol owns production, so only the payload stands in the way
    access_on_env_card = world.click("carol", card, "approve", "env_actions", f"access:{env.id}")
    env_on_request_card = world.click(
        "carol", req_card, "approve", "request_actions", f"env:{req_id}"
    )
    delete_on_request = world.click(
        "carol", req_card, "delete_now", "request_actions", f"access:{req_id}"
    )
    unknown_block = world.click("carol", card, "approve", "somewhere_else", f"env:{env.id}")

    # validating
    answers = [access_on_env_card, env_on_request_card, delete_on_request, unknown_block]
    assert [status for status, _ in answers] == [200] * len(answers)
    assert access_on_env_card[1] == (
        f'this button does not belong to access request "{env.id}": it sits with environment '
        "buttons (env_actions); nothing changed; use the buttons on its card, its reminder or "
        "your Home tab"
    )
    assert (
        f'does not belong to environment "{req_id}": it sits with access request buttons '
        "(request_actions)" in env_on_request_card[1]
    )
    assert (
        f'does not belong to access request "{req_id}": "delete_now" is not one of its buttons'
        in delete_on_request[1]
    )
    assert 'envbot posts no buttons in "somewhere_else"' in unknown_block[1]
    assert world.snapshot() == before


def test_a_home_row_with_another_objects_value_is_refused(world: World) -> None:
    # setup
    env, card = world.pending_env("home-row")
    other = world.request("alice", 'production admin 2h "check the release"')
    before = world.snapshot()

    # execution: both are carol's to approve, but each button belongs to its own row
    new_value = world.click("carol", card, "approve", f"home_{other}", f"env:{env.id}")
    legacy = world.click("carol", card, "approve", f"home_{other}", env.id)
    reverse = world.click("carol", card, "approve", f"home_{env.id}", f"access:{other}")

    # validating
    for status, answer in (new_value, legacy, reverse):
        assert status == 200
        assert "this button does not belong to the Home tab row it sits in" in answer
    assert world.snapshot() == before


@pytest.mark.parametrize(
    ("value", "answer"),
    [
        ("x:123", 'this button names an unknown kind of object ("x")'),
        ("", "this button names no object"),
        ("   ", "this button names no object"),
        ("env:", 'this button\'s value ("env:") is not `<kind>:<id>`'),
        (":eabcde", 'this button\'s value (":eabcde") is not `<kind>:<id>`'),
        ("env:e1:e2", 'this button\'s value ("env:e1:e2") is not `<kind>:<id>`'),
        ("env:" + "e" * 3000, "is not one envbot wrote"),
        ("e" * 3000, "is not one envbot wrote"),
        ("Robert'); DROP TABLE", "is not one envbot wrote"),
        ("x123", 'this button names no known request ("x123")'),
        ("env:enosuch", 'no environment "enosuch"'),
    ],
)
def test_unknown_kind_and_malformed_values_get_a_clear_answer(
    world: World, value: str, answer: str
) -> None:
    # setup
    _, card = world.pending_env("malformed")
    before = world.snapshot()

    # execution
    status, text = world.click("carol", card, "approve", "env_actions", value)

    # validating
    assert status == 200
    assert answer in text
    assert "Something went wrong" not in text
    assert len(text) < 300
    assert world.snapshot() == before
