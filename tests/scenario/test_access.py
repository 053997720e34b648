"""Access requests over signed HTTP on simulated time: request, decide, grant, extend, end."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import AccessRequest, Environment, Event, InboundKey
from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_store import Message, View
from bot.domain.clock import ManualClock
from bot.wiring import Runtime
from provisioning.base import AccessBackend
from provisioning.fake import FakeAccessBackend
from tests.scenario.conftest import (
    REQUEST_ID,
    ScenarioClock,
    SlackClient,
    buttons,
    message_text,
    wait_for,
)

CARD_BUTTONS = ["approve", "deny", "cancel"]


@dataclass
class World(ScenarioClock):
    http: SlackClient
    slack: FakeSlack
    runtime: Runtime
    backend: FakeAccessBackend
    clock: ManualClock
    sessions: sessionmaker[Session]

    def approved(self, user: str, text: str, approver: str = "bob") -> str:
        """A request by `user` that `approver` approved; ACTIVE on return."""
        req_id = self.request(user, text)
        answer = self.http.press(approver, self.card(req_id), "approve")
        assert f"Approved `{req_id}`" in answer
        self.jobs()
        assert self.req(req_id).state == "ACTIVE"
        return req_id

    def req(self, req_id: str) -> AccessRequest:
        with self.sessions() as s:
            req = s.get(AccessRequest, req_id)
        assert req is not None, req_id
        return req

    def env_owner(self, env_id: str) -> str:
        with self.sessions() as s:
            env = s.get(Environment, env_id)
        assert env is not None, env_id
        return env.owner_id

    def requests(self) -> list[tuple[str, str]]:
        with self.sessions() as s:
            rows = s.scalars(select(AccessRequest).order_by(AccessRequest.id)).all()
        return [(r.id, r.state) for r in rows]

    def card(self, req_id: str) -> Message:
        found = [
            m
            for name in ("sandbox-approvals", "production-approvals")
            for m in self.slack.history(self.slack.channel_id(name))
            if m.text.startswith(f"Access request {req_id}:")
        ]
        assert len(found) == 1, found
        return found[0]

    def thread(self, req_id: str) -> list[str]:
        card = self.card(req_id)
        return [m.text for m in self.slack.replies(card.channel, card.ts)]

    def dm_messages(self, user: str) -> list[Message]:
        uid = self.slack.user_id(user)
        return [m for m in self.slack.visible_messages(uid) if m.dm_user == uid]

    def dms(self, user: str) -> list[str]:
        return [_text(m) for m in self.dm_messages(user)]

    def events(self, object_id: str) -> list[Event]:
        with self.sessions() as s:
            return list(
                s.scalars(select(Event).where(Event.object_id == object_id).order_by(Event.id))
            )

    def changes(self, object_id: str) -> list[tuple[str, str, str]]:
        """(actor, from, to) of every state change of the object, in order."""
        return [
            (e.actor, e.from_state, e.to_state)
            for e in self.events(object_id)
            if e.from_state != e.to_state
        ]

    def press_value(self, user: str, msg: Message, action_id: str, value: str) -> str:
        """Press a button on `msg` whose `value` was changed to `value`; the ephemeral answer."""
        (button,) = [b for b in buttons(msg.blocks) if b["action_id"] == action_id]
        cursor = self.http.mark()
        resp = self.http.click(user, msg, {**button, "value": value})
        assert resp.status_code == 200, resp.text
        got = wait_for(lambda: self.http.ephemerals_since(cursor, user), what="answer")
        return message_text(got[0].text, got[0].blocks)

    def modal(self, user: str, callback_id: str) -> View:
        """Wait for the modal `callback_id` to be open for `user`; the newest one."""
        return wait_for(
            lambda: [
                v for v in self.slack.open_modals(user) if v.view["callback_id"] == callback_id
            ],
            what=f"{callback_id} modal",
        )[-1]

    def uid(self, user: str) -> str:
        return self.slack.user_id(user)


def _text(msg: Message) -> str:
    return message_text(msg.text, msg.blocks)


@pytest.fixture
def world(
    slack_http: SlackClient,
    fake_slack: FakeSlack,
    runtime: Runtime,
    access_backends: dict[str, AccessBackend],
    clock: ManualClock,
    sessions: sessionmaker[Session],
) -> World:
    backend = access_backends["fake"]
    assert isinstance(backend, FakeAccessBackend)
    return World(slack_http, fake_slack, runtime, backend, clock, sessions)


def test_approve_updates_the_card_threads_and_dms_instructions(world: World) -> None:
    # setup
    bob, alice = world.uid("bob"), world.uid("alice")

    # execution
    answer = world.http.ask("alice", "/access", 'request sandbox admin 4h "debug the ingress"')
    found = REQUEST_ID.search(answer)
    assert found, answer
    req_id = found.group(1)
    world.jobs()
    card = world.card(req_id)
    posted_buttons = [b["action_id"] for b in buttons(card.blocks)]
    world.slack.clear_calls()
    approved = world.http.press("bob", card, "approve")
    world.jobs()

    # validating: the request went to #sandbox-approvals with the three buttons
    assert "went to the owners in #sandbox-approvals" in answer
    assert card.channel == world.slack.channel_id("sandbox-approvals")
    assert posted_buttons == CARD_BUTTONS
    # validating: the card was updated in place, the thread and the DM tell the outcome
    assert f"Approved `{req_id}`" in approved
    updates = [c for c in world.slack.calls_to("chat.update") if c.params.get("ts") == card.ts]
    assert updates
    card = world.card(req_id)
    assert f"Approved by <@{bob}>" in _text(card)
    assert buttons(card.blocks) == []
    assert f"Approved by <@{bob}>" in world.thread(req_id)
    (granted,) = [d for d in world.dms("alice") if req_id in d and "was approved by" in d]
    assert "oidc-login" in granted
    assert "https://management.example.com/token" in granted
    # validating: exactly one grant, for alice's email, and every state change audited
    assert world.backend.calls == [("grant", req_id)]
    (spec,) = world.backend.active().values()
    assert (spec.subject, spec.workspace, spec.role) == ("alice@example.com", "sandbox", "admin")
    assert world.changes(req_id) == [
        (alice, "", "PENDING"),
        (bob, "PENDING", "APPROVED"),
        ("envbot", "APPROVED", "ACTIVE"),
    ]


@pytest.mark.parametrize("reason", ["wrong workspace, ask in production", ""])
def test_deny_through_the_reason_modal(world: World, reason: str) -> None:
    # setup
    bob = world.uid("bob")
    req_id = world.request("alice", 'sandbox admin 4h "debug the ingress"')
    card = world.card(req_id)
    (deny,) = [b for b in buttons(card.blocks) if b["action_id"] == "deny"]

    # execution
    assert world.http.click("bob", card, deny).status_code == 200
    view = world.modal("bob", "deny_reason")
    resp = world.http.submit("bob", view, {"reason": reason})
    wait_for(lambda: world.req(req_id).state == "DENIED", what="denied")
    world.jobs()

    # validating
    (opened,) = world.slack.calls_to("views.open")
    assert opened.params["view"]["callback_id"] == "deny_reason"
    assert resp.status_code == 200
    assert resp.text == ""  # acked: the modal closes
    card = world.card(req_id)
    assert f"Denied by <@{bob}>" in _text(card)
    assert buttons(card.blocks) == []
    (told,) = [d for d in world.dms("alice") if req_id in d]
    assert "denied your request" in told
    assert [d for d in world.dms("bob") if req_id in d] == []  # the decider knows: the card
    if reason:
        assert reason in told
        assert world.req(req_id).decision_note == reason
    assert world.backend.calls == []
    assert world.changes(req_id)[-1] == (bob, "PENDING", "DENIED")


def test_only_the_requester_may_cancel(world: World) -> None:
    # setup
    alice = world.uid("alice")
    req_id = world.request("alice", 'sandbox view 1d "read the logs"')

    # execution
    by_dave = world.http.press("dave", world.card(req_id), "cancel")
    state_after_dave = world.req(req_id).state
    by_alice = world.http.press("alice", world.card(req_id), "cancel")
    world.jobs()

    # validating
    assert f"only <@{alice}>, who asked, can cancel {req_id}" in by_dave
    assert state_after_dave == "PENDING"
    assert f"Cancelled `{req_id}`" in by_alice
    assert buttons(world.card(req_id).blocks) == []
    assert "cancelled" in world.card(req_id).text
    assert world.changes(req_id)[-1] == (alice, "PENDING", "CANCELLED")


def test_pending_request_times_out(world: World) -> None:
    # setup
    req_id = world.request("alice", 'sandbox view 1d "read the logs"')

    # execution: sandbox's pending_timeout is 24h
    world.skip_to(timedelta(hours=23, minutes=50))
    before = world.req(req_id).state
    world.advance(timedelta(minutes=12))
    world.jobs()

    # validating
    assert before == "PENDING"
    assert world.req(req_id).state == "TIMED_OUT"
    card = world.card(req_id)
    assert "timed out" in card.text
    assert buttons(card.blocks) == []
    assert any(t.startswith("Timed out") for t in world.thread(req_id))
    assert any(req_id in d and "timed out" in d for d in world.dms("alice"))
    assert world.changes(req_id)[-1] == ("envbot", "PENDING", "TIMED_OUT")


def test_extend_within_the_cap_and_refusals(world: World) -> None:
    # setup: view lasts at most 7d, in steps of 1d
    req_id = world.approved("alice", 'sandbox view 2d "read the logs"')
    activated = world.req(req_id).activated_at
    assert activated is not None

    # execution
    default = world.http.ask("alice", "/access", f"extend {req_id}")
    explicit = world.http.ask("alice", "/access", f"extend {req_id} 2d")
    over = world.http.ask("alice", "/access", f"extend {req_id} 3d")
    by_dave = world.http.ask("dave", "/access", f"extend {req_id}")

    # validating
    assert f"Extended `{req_id}`" in default
    assert f"Extended `{req_id}`" in explicit
    assert "view in sandbox lasts at most 7d from activation" in over
    assert "extend it by at most 2d more (until <!date^" in over  # no date arithmetic
    assert f"only <@{world.uid('alice')}> or an owner of sandbox can extend {req_id}" in by_dave
    assert world.req(req_id).expires_at == activated + timedelta(days=2 + 1 + 2)
    extends = [e for e in world.events(req_id) if e.action == "extend"]
    assert [(e.actor, e.from_state, e.to_state) for e in extends] == [
        (world.uid("alice"), "ACTIVE", "ACTIVE")
    ] * 2


def test_expiry_revokes_once_and_tells_the_requester(world: World) -> None:
    # setup
    req_id = world.approved("alice", 'sandbox admin 1h "fix the ingress"')

    # execution
    world.advance(timedelta(hours=1, minutes=2))
    world.advance(timedelta(minutes=5))
    world.jobs()

    # validating
    assert world.req(req_id).state == "EXPIRED"
    assert world.backend.calls.count(("revoke", req_id)) == 1
    assert world.backend.active() == {}
    assert any(req_id in d and "expired" in d for d in world.dms("alice"))
    assert world.changes(req_id)[-2:] == [
        ("envbot", "ACTIVE", "REVOKING"),
        ("envbot", "REVOKING", "EXPIRED"),
    ]


def test_revoking_one_of_two_overlapping_grants_keeps_the_other(world: World) -> None:
    # setup: two grants for the same (subject, workspace, role)
    first = world.approved("alice", 'sandbox view 1d "read the logs"')
    second = world.approved("alice", 'sandbox view 2d "read more logs"')

    # execution
    answer = world.http.ask("alice", "/access", f"revoke {first}")
    world.jobs()

    # validating
    assert f"Revoking `{first}`" in answer
    assert world.req(first).state == "REVOKED"
    assert world.req(second).state == "ACTIVE"
    active = world.backend.active()
    assert list(active) == [second]
    assert (active[second].subject, active[second].role) == ("alice@example.com", "view")
    assert world.changes(first)[-2:] == [
        (world.uid("alice"), "ACTIVE", "REVOKING"),
        ("envbot", "REVOKING", "REVOKED"),
    ]


def test_non_owner_and_self_approval_are_refused(world: World) -> None:
    # setup
    by_alice = world.request("alice", 'sandbox view 1d "read the logs"')
    by_bob = world.request("bob", 'sandbox admin 4h "try an upgrade"')

    # execution
    dave = world.http.press("dave", world.card(by_alice), "approve")
    bob_self = world.http.press("bob", world.card(by_bob), "approve")

    # validating
    assert "only owners of sandbox can approve" in dave
    assert "you cannot approve your own request, even as an owner" in bob_self
    assert world.requests() == sorted([(by_alice, "PENDING"), (by_bob, "PENDING")])
    assert world.backend.calls == []


def test_a_forged_button_value_is_authorized_on_the_request_it_names(world: World) -> None:
    # setup: bob owns sandbox, not production
    prod = world.request("alice", 'production admin 2h "check the release"')
    sandbox = world.request("alice", 'sandbox view 1d "read the logs"')
    card = world.card(sandbox)
    before = (world.requests(), [len(world.events(r)) for r in (prod, sandbox)])

    # execution
    other_workspace = world.press_value("bob", card, "approve", prod)
    no_request = world.press_value("bob", card, "approve", "rnosuchid")
    no_kind = world.press_value("bob", card, "approve", "x123")

    # validating
    assert "only owners of production can approve" in other_workspace
    assert 'no access request "rnosuchid"' in no_request
    assert 'names no known request ("x123")' in no_kind
    assert (world.requests(), [len(world.events(r)) for r in (prod, sandbox)]) == before
    assert world.backend.calls == []


def test_request_modal_keeps_field_errors_in_the_form(world: World) -> None:
    # execution: arguments missing, so the form opens pre-filled with the workspace
    assert world.http.command("alice", "/access", "request sandbox").status_code == 200
    view = world.modal("alice", "access_request")
    over = world.http.submit(
        "alice", view, {"role": "admin", "duration": "12h", "reason": "upgrade"}
    )
    rows_after_over = world.requests()
    ok = world.http.submit("alice", view, {"role": "admin", "duration": "4h", "reason": "upgrade"})
    rows = wait_for(world.requests, what="the request row")
    world.jobs()

    # validating
    (opened,) = world.slack.calls_to("views.open")
    assert opened.params["view"]["callback_id"] == "access_request"
    assert over.status_code == 200
    body: dict[str, Any] = json.loads(over.text)
    assert body["response_action"] == "errors"
    assert list(body["errors"]) == ["duration"]
    assert "maximum of 8h" in body["errors"]["duration"]
    assert rows_after_over == []
    assert ok.status_code == 200
    (req_id, state) = rows[0]
    assert state == "PENDING"
    assert len(rows) == 1
    req = world.req(req_id)
    assert (req.workspace, req.role, req.duration_s) == ("sandbox", "admin", 4 * 3600)
    assert any(req_id in d and "went to the owners" in d for d in world.dms("alice"))
    assert world.card(req_id)


def _alice_with_grant_request_and_env(world: World) -> tuple[str, str, Environment]:
    """alice holds an ACTIVE grant, a PENDING request and a READY sandbox environment."""
    active = world.approved("alice", 'sandbox view 2d "read the logs"')
    pending = world.request("alice", 'sandbox admin 4h "try an upgrade"')
    world.http.ask("alice", "/env", "create sandbox leaving")
    world.advance(timedelta(minutes=30))
    with world.sessions() as s:
        env = s.scalars(select(Environment).where(Environment.name == "leaving")).one()
    assert env.state == "READY"
    return active, pending, env


def _deactivate(world: World, user: str) -> dict[str, Any]:
    found = world.slack.deactivate_user(user)
    return {
        "type": "user_change",
        "user": {"id": found.id, "name": found.name, "deleted": True, "tz": found.tz},
    }


def test_offboarding_revokes_cancels_and_hands_environments_to_the_owner(world: World) -> None:
    # setup
    active, pending, env = _alice_with_grant_request_and_env(world)
    alice, bob = world.uid("alice"), world.uid("bob")

    # execution
    resp = world.http.event(_deactivate(world, "alice"), "Ev00000001")
    wait_for(
        lambda: world.req(active).state == "REVOKED" and world.req(pending).state == "CANCELLED",
        what="offboarding",
    )
    wait_for(lambda: world.env_owner(env.id) == bob, what="handover")
    world.jobs()

    # validating
    assert resp.status_code == 200
    assert world.backend.calls.count(("revoke", active)) == 1
    assert world.backend.active() == {}
    assert any("leaving" in d and "was deactivated" in d for d in world.dms("bob"))
    assert world.changes(active)[-2:] == [
        ("envbot", "ACTIVE", "REVOKING"),
        ("envbot", "REVOKING", "REVOKED"),
    ]
    assert world.changes(pending)[-1] == ("envbot", "PENDING", "CANCELLED")
    ended = [t for t in world.thread(active) if "removed from sandbox" in t]
    assert ended == [
        "Access was revoked (the requester's Slack account was deactivated); removed from sandbox"
    ]  # the channel reads the thread: third person, never "you"
    (handover,) = [e for e in world.events(env.id) if e.action == "offboard"]
    assert (handover.actor, handover.detail["old_owner"], handover.detail["new_owner"]) == (
        "envbot",
        alice,
        bob,
    )


def test_a_retried_user_change_offboards_once(world: World) -> None:
    # setup
    active = world.approved("alice", 'sandbox view 2d "read the logs"')
    event = _deactivate(world, "alice")

    # execution: the delivery, then a request that lands just after it, then Slack's retry
    first = world.http.event(event, "Ev00000002")
    wait_for(lambda: world.req(active).state == "REVOKED", what="offboarding")
    late = world.request("alice", 'sandbox admin 4h "one last thing"')
    retry = world.http.event(event, "Ev00000002", retry_num=1)
    world.jobs()

    # validating: the retry ran nothing, or it would have cancelled the late request
    assert (first.status_code, retry.status_code) == (200, 200)
    assert world.req(late).state == "PENDING"
    assert world.backend.calls.count(("revoke", active)) == 1
    assert [e.to_state for e in world.events(active)].count("REVOKED") == 1
    with world.sessions() as s:
        keys = s.scalar(
            select(func.count()).select_from(InboundKey).where(InboundKey.key == "event:Ev00000002")
        )
    assert keys == 1


def test_app_home_lists_what_waits_for_the_owner(world: World) -> None:
    # setup
    req_id = world.request("alice", 'sandbox view 1d "read the logs"')
    bob = world.uid("bob")

    # execution
    resp = world.http.event(
        {
            "type": "app_home_opened",
            "user": bob,
            "channel": world.slack.dm_channel_id("bob"),
            "tab": "home",
        },
        "Ev00000003",
    )
    home = wait_for(lambda: world.slack.home_view("bob"), what="bob's home tab")
    assert home is not None

    # validating
    assert resp.status_code == 200
    assert world.slack.calls_to("views.publish")
    blocks = home.view["blocks"]
    headers = [b["text"]["text"] for b in blocks if b["type"] == "header"]
    assert headers[-1] == "Waiting for my approval"
    start = next(
        i
        for i, b in enumerate(blocks)
        if b["type"] == "header" and b["text"]["text"] == headers[-1]
    )
    waiting = blocks[start:]
    assert req_id in message_text("", waiting)
    decide = buttons(waiting)
    value = f"access:{req_id}"
    assert [(b["action_id"], b["value"]) for b in decide] == [("approve", value), ("deny", value)]
    assert {b["block_id"] for b in decide} == {f"home_{req_id}"}


def test_grant_reminder_once_then_extend_rearms_it(world: World) -> None:
    # setup: a 2d view grant from Monday 09:00, so the 24h reminder falls on Tuesday 09:00
    req_id = world.approved("alice", 'sandbox view 2d "read the logs"')
    expires = world.req(req_id).expires_at
    assert expires is not None

    def reminders() -> list[Message]:
        return [m for m in world.dm_messages("alice") if req_id in m.text and "ends in" in m.text]

    # execution
    world.skip_to(timedelta(hours=23, minutes=55), then=timedelta(minutes=1))
    early = len(reminders())
    world.advance(timedelta(minutes=10))
    world.jobs()
    first = reminders()
    world.advance(timedelta(minutes=30))
    world.jobs()
    again = reminders()
    extended = world.http.press("alice", first[0], "extend")
    world.jobs()
    new_expiry = world.req(req_id).expires_at
    assert new_expiry is not None
    world.skip_to(new_expiry - timedelta(hours=24, minutes=5) - world.clock.now())
    before_rearmed = len(reminders())
    world.advance(timedelta(minutes=10))
    world.jobs()
    rearmed = reminders()

    # validating
    assert early == 0
    assert len(first) == 1
    labels = [b["text"]["text"] for b in buttons(first[0].blocks)]
    assert labels == ["Extend 1d", "Revoke now", "Keep as is"]
    assert "ends in 24h" in first[0].text or "ends in 23h" in first[0].text
    assert len(again) == 1
    assert f"Extended `{req_id}`" in extended
    assert new_expiry == expires + timedelta(days=1)
    assert before_rearmed == 1
    assert len(rearmed) == 2
    assert f"<!date^{int(new_expiry.timestamp())}^" in rearmed[-1].text  # each reader's own time


def test_the_second_owner_to_decide_is_told_who_won(world: World) -> None:
    # setup: carol becomes a second owner of sandbox
    world.slack.set_usergroup_users("sandbox-owners", [world.uid("bob"), world.uid("carol")])
    req_id = world.request("alice", 'sandbox view 1d "read the logs"')
    card = world.card(req_id)

    # execution: both press on the card as it was before either decision
    first = world.http.press("bob", card, "approve")
    second = world.http.press("carol", card, "approve")
    deny = world.press_value("carol", card, "deny", req_id)

    # validating
    assert f"Approved `{req_id}`" in first
    assert f"{req_id} was already approved by <@{world.uid('bob')}>" in second
    assert f"{req_id} was already approved by <@{world.uid('bob')}>" in deny
    assert world.backend.calls == [("grant", req_id)]
    assert [c for c in world.changes(req_id) if c[2] == "APPROVED"] == [
        (world.uid("bob"), "PENDING", "APPROVED")
    ]
