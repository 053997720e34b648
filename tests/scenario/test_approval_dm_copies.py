"""DM copies of approval cards (`notify: dm`) over signed HTTP: after each vote, the decision,
an escalation and a cancel, every copy shows what the channel card shows, with only the
buttons its recipient may press; for access requests and an `approval: true` template."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import Environment, SlackMessage
from bot.demo.fake_slack_store import Message
from bot.lifecycle.votes import voted
from bot.policy import Policy
from tests.scenario.conftest import buttons, example_policy_with, message_text
from tests.scenario.test_access import World
from tests.scenario.test_access import world as world  # the fixture, shared

ADMIN = 'production admin 1h "rotate the certificates"'


@pytest.fixture
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    """examples/policy.yaml with production's approvals announced by DM (admin needs two,
    escalation to @platform-leads after 30m) and prod-cluster needing two, by DM."""

    def dm(data: dict[str, Any]) -> None:
        data["workspaces"]["production"]["approvals"]["notify"] = "dm"
        data["templates"]["prod-cluster"]["approvals"] = {"required": 2, "notify": "dm"}

    return example_policy_with(tmp_path_factory.mktemp("policy"), dm)


def copy_of(world: World, user: str, prefix: str) -> Message:
    """`user`'s one DM copy of the card whose fallback text starts with `prefix`."""
    found = [m for m in world.dm_messages(user) if m.text.startswith(prefix)]
    assert len(found) == 1, world.dms(user)
    return found[0]


def text(msg: Message) -> str:
    return message_text(msg.text, msg.blocks)


def pressable(msg: Message) -> list[str]:
    return [b["action_id"] for b in buttons(msg.blocks)]


def test_access_dm_copies_follow_each_vote_and_the_decision(world: World) -> None:
    # setup: admin in production needs carol and erin; both get a copy by DM
    req_id = world.request("alice", ADMIN)
    carol, erin = world.uid("carol"), world.uid("erin")
    head = f"Access request {req_id}:"
    for user in ("carol", "erin"):
        first = copy_of(world, user, head)
        assert "0 of 2 approvals" in text(first)
        assert pressable(first) == ["approve", "deny"]  # Cancel is the requester's

    # execution: carol approves from her DM
    world.http.press("carol", copy_of(world, "carol", head), "approve")
    world.jobs()

    # validating: both copies (updated in place, not posted again) count her and name her
    for user in ("carol", "erin"):
        after_one = text(copy_of(world, user, head))
        assert f"1 of 2 approvals: <@{carol}> at <!date^" in after_one, after_one
        assert f"may decide: <@{erin}>" in after_one, after_one
    assert pressable(copy_of(world, "carol", head)) == ["deny"]  # not a second Approve
    assert pressable(copy_of(world, "erin", head)) == ["approve", "deny"]

    # execution: erin approves from her DM
    world.http.press("erin", copy_of(world, "erin", head), "approve")
    world.jobs()

    # validating: active; both copies show the final state, who approved, and no buttons
    assert world.req(req_id).state == "ACTIVE"
    for user in ("carol", "erin"):
        final = copy_of(world, user, head)
        assert "(active" in final.text, final.text
        assert f"Approved by <@{erin}>" in text(final)
        assert f"2 of 2 approvals: <@{carol}> at" in text(final)
        assert pressable(final) == []
    # every copy was updated by its DM's id (as Slack requires), and the ts envbot recorded
    with world.sessions() as s:
        recorded = {
            (r.channel, r.ts)
            for r in s.scalars(select(SlackMessage).where(SlackMessage.object_id == req_id))
            if r.purpose.startswith("dm:")
        }
    copies = {
        (copy_of(world, u, head).channel, copy_of(world, u, head).ts) for u in ("carol", "erin")
    }
    assert recorded == copies
    updated = {
        (c.params["channel"], c.params["ts"])
        for c in world.slack.calls_to("chat.update")
        if c.error is None and str(c.params["channel"]).startswith("D")
    }
    assert updated == copies


def test_an_escalation_dm_copy_is_kept_in_step_too(world: World) -> None:
    # setup: nobody decides for 31 minutes; bob (platform-leads) gets a copy when it escalates
    req_id = world.request("alice", ADMIN)
    bob, carol = world.uid("bob"), world.uid("carol")
    head = f"Access request {req_id}:"
    world.advance(timedelta(minutes=31))
    escalated = copy_of(world, "bob", head)
    assert pressable(escalated) == ["approve", "deny"]
    assert f"<@{bob}>" in text(copy_of(world, "carol", head)).split("may decide:")[1]

    # execution: bob approves from his DM, then carol from hers
    world.http.press("bob", escalated, "approve")
    world.jobs()
    after_bob = text(copy_of(world, "carol", head))
    world.http.press("carol", copy_of(world, "carol", head), "approve")
    world.jobs()

    # validating: carol's copy counted bob's vote; bob's escalation copy shows the end
    assert f"1 of 2 approvals: <@{bob}>" in after_bob
    assert world.req(req_id).state == "ACTIVE"
    final = copy_of(world, "bob", head)
    assert f"Approved by <@{carol}>" in text(final)
    assert pressable(final) == []


def test_a_cancel_by_the_requester_updates_the_copies(world: World) -> None:
    # setup
    req_id = world.request("alice", ADMIN)
    head = f"Access request {req_id}:"

    # execution: alice cancels from the channel card (the copies never offer it)
    world.http.press("alice", world.card(req_id), "cancel")
    world.jobs()

    # validating
    assert world.req(req_id).state == "CANCELLED"
    for user in ("carol", "erin"):
        final = copy_of(world, user, head)
        assert "(cancelled)" in final.text, final.text
        assert pressable(final) == []


def test_template_dm_copies_follow_the_votes(world: World) -> None:
    # setup: prod-cluster needs two approvals, by DM
    world.http.ask("alice", "/env", "create prod-cluster prod-copies")
    world.jobs()
    with world.sessions() as s:
        env = s.scalars(select(Environment).where(Environment.name == "prod-copies")).one()
    carol, erin = world.uid("carol"), world.uid("erin")
    head = "prod-copies:"

    # execution: carol approves from her DM
    world.http.press("carol", copy_of(world, "carol", head), "approve")
    world.jobs()

    # validating
    erins = copy_of(world, "erin", head)
    assert f"1 of 2 approvals: <@{carol}> at" in text(erins)
    assert pressable(erins) == ["approve", "deny"]

    # execution: erin approves from hers
    world.http.press("erin", erins, "approve")
    world.jobs()

    # validating: no longer waiting for approval, in both copies, without buttons
    with world.sessions() as s:
        approved = s.get(Environment, env.id)
        assert approved is not None
    assert approved.state in ("PROVISIONING", "READY")
    for user in ("carol", "erin"):
        final = copy_of(world, user, head)
        assert "waiting for approval" not in final.text, final.text
        assert f"Decided by <@{erin}>" in text(final)
        assert pressable(final) == []


def test_a_time_out_updates_the_copies(world: World) -> None:
    # setup: nobody decides; it escalates at 30m (bob gets a copy), then waits out 8h
    req_id = world.request("alice", ADMIN)
    head = f"Access request {req_id}:"

    # execution
    world.advance(timedelta(hours=8, minutes=1))

    # validating: every copy, the escalation's too, says so and offers nothing
    assert world.req(req_id).state == "TIMED_OUT"
    for user in ("carol", "erin", "bob"):
        final = copy_of(world, user, head)
        assert "(timed out)" in final.text, final.text
        assert pressable(final) == []


def test_presses_on_a_copy_are_authorized_on_the_server_whatever_it_shows(world: World) -> None:
    # setup: carol's copy as first sent (Approve and Deny on it)
    req_id = world.request("alice", ADMIN)
    head = f"Access request {req_id}:"
    carols = copy_of(world, "carol", head)
    assert not [m for m in world.dm_messages("alice") if m.text.startswith(head)]  # asker: none

    # execution / validating: the requester and a non-owner press it (a forged press)
    assert "only owners of production" in world.http.press("alice", carols, "approve")
    assert "only owners of production" in world.http.press("dave", carols, "approve")
    with world.sessions() as s:
        assert voted(s, "access", req_id) == []

    # execution / validating: carol votes, then presses the stale copy's Approve again
    world.http.press("carol", carols, "approve")
    world.jobs()
    assert "you already approved" in world.http.press("carol", carols, "approve")

    # execution / validating: erin decides; a click on a stale copy after it is refused
    world.http.press("erin", copy_of(world, "erin", head), "approve")
    world.jobs()
    assert world.req(req_id).state == "ACTIVE"
    assert "already approved" in world.http.press("carol", carols, "approve")
    with world.sessions() as s:
        assert [u for u, _ in voted(s, "access", req_id)] == [world.uid("carol"), world.uid("erin")]


def test_an_owner_who_asks_gets_no_copy_and_a_removed_owner_loses_the_buttons(
    world: World,
) -> None:
    # setup: carol (an owner) asks; erin and dave are the other owners
    world.slack.set_usergroup_users("production-owners", ["carol", "erin", "dave"])
    req_id = world.request("carol", ADMIN)
    head = f"Access request {req_id}:"
    assert not [m for m in world.dm_messages("carol") if m.text.startswith(head)]
    assert pressable(copy_of(world, "dave", head)) == ["approve", "deny"]

    # execution: dave leaves the owners; erin approves (the card is re-rendered)
    world.slack.set_usergroup_users("production-owners", ["carol", "erin"])
    world.http.press("erin", copy_of(world, "erin", head), "approve")
    world.jobs()

    # validating: dave's copy offers nothing now, and a press on his old copy is refused
    assert pressable(copy_of(world, "dave", head)) == []
    assert "only owners of production" in world.http.press(
        "dave", copy_of(world, "erin", head), "deny"
    )
    assert world.req(req_id).state == "PENDING"
