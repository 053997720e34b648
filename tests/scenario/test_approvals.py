"""N of M approvals over signed HTTP: votes, a deny after a vote, escalation after the idle
time, the never-reachable refusal, and the environment-template path with DMs to approvers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.db.models import ApprovalVote, Environment
from bot.demo.fake_slack_store import Message
from bot.policy import Policy
from tests.scenario.conftest import buttons, example_policy_with, message_text, wait_for
from tests.scenario.test_access import World
from tests.scenario.test_access import world as world  # the fixture, shared

ADMIN = 'production admin 1h "rotate the certificates"'


@pytest.fixture
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    """examples/policy.yaml (production: admin needs 2, escalation to @platform-leads after
    30m), with prod-cluster needing 2 approvals announced by DM."""

    def dm(data: dict[str, Any]) -> None:
        data["templates"]["prod-cluster"]["approvals"] = {"required": 2, "notify": "dm"}

    return example_policy_with(tmp_path_factory.mktemp("policy"), dm)


def card_text(world: World, req_id: str) -> str:
    card = world.card(req_id)
    return message_text(card.text, card.blocks)


def votes(world: World, obj_id: str) -> list[str]:
    with world.sessions() as s:
        return list(
            s.scalars(
                select(ApprovalVote.approver)
                .where(ApprovalVote.object_id == obj_id)
                .order_by(ApprovalVote.id)
            )
        )


def actions(world: World, obj_id: str) -> list[tuple[str, str]]:
    return [(e.action, e.actor) for e in world.events(obj_id)]


def test_two_of_three_one_vote_keeps_it_pending_the_second_approves(world: World) -> None:
    # setup: three production owners; admin needs two of them
    world.slack.set_usergroup_users("production-owners", ["carol", "erin", "dave"])
    req_id = world.request("alice", ADMIN)
    carol, erin, dave = world.uid("carol"), world.uid("erin"), world.uid("dave")
    assert "0 of 2 approvals" in card_text(world, req_id)
    # the group is named in the card's `text` too: mobile notifications show only that
    owners = world.slack.usergroup_id("production-owners")
    assert world.card(req_id).text.endswith(f"(pending) <!subteam^{owners}>")

    # execution: carol approves, then again
    first = world.http.press("carol", world.card(req_id), "approve")
    world.jobs()
    again = world.http.press("carol", world.card(req_id), "approve")

    # validating: pending, the card counts it and names who may still decide
    assert f"You approved `{req_id}`; waiting for 1 more approval" in first
    assert f"you already approved {req_id}; waiting for 1 more approval" in again
    assert world.req(req_id).state == "PENDING"
    text = card_text(world, req_id)
    assert f"1 of 2 approvals: <@{carol}> at <!date^" in text
    assert f"may decide: <@{dave}>, <@{erin}>" in text
    assert "until <!date^" in text
    assert f"Approved by <@{carol}> (1 of 2); waiting for 1 more" in world.thread(req_id)
    assert world.backend.calls == []

    # execution: erin approves (the threshold), then dave clicks the card he still sees
    stale = world.card(req_id)
    second = world.http.press("erin", stale, "approve")
    world.jobs()
    late = world.http.press("dave", stale, "approve")

    # validating: approved once, by the vote that reached two; granted once
    assert f"Approved `{req_id}`" in second
    assert f"{req_id} was already approved by <@{erin}>" in late
    assert world.req(req_id).state == "ACTIVE"
    assert world.backend.calls == [("grant", req_id)]
    assert votes(world, req_id) == [carol, erin]
    assert ("approval", carol) in actions(world, req_id)
    assert ("approve", erin) in actions(world, req_id)
    assert [a for a, _ in actions(world, req_id)].count("approve") == 1
    assert f"2 of 2 approvals: <@{carol}> at" in card_text(world, req_id)
    assert "<!subteam^" not in world.card(req_id).text  # decided: nobody to call


def test_a_deny_after_one_approval_denies(world: World) -> None:
    # setup
    req_id = world.request("alice", ADMIN)
    world.http.press("carol", world.card(req_id), "approve")
    world.jobs()

    # execution: erin denies (the modal, then its submission)
    card = world.card(req_id)
    (deny,) = [b for b in buttons(card.blocks) if b["action_id"] == "deny"]
    assert world.http.click("erin", card, deny).status_code == 200
    view = world.modal("erin", "deny_reason")
    world.http.submit("erin", view, {"reason": "not during the freeze"})
    wait_for(lambda: world.req(req_id).state == "DENIED", what="denied")
    world.jobs()

    # validating
    req = world.req(req_id)
    assert req.state == "DENIED"
    assert req.decided_by == world.uid("erin")
    assert world.backend.calls == []
    assert any(
        "denied your request" in d and "not during the freeze" in d for d in world.dms("alice")
    )


def test_escalation_after_the_idle_time_adds_the_escalation_group(world: World) -> None:
    # setup
    req_id = world.request("alice", ADMIN)
    bob, carol = world.uid("bob"), world.uid("carol")
    leads = world.slack.usergroup_id("platform-leads")

    # execution: 29 minutes nobody decides; bob (a platform lead, no owner) tries
    world.advance(timedelta(minutes=29))
    early = world.http.press("bob", world.card(req_id), "approve")

    # validating: not yet escalated, bob may not decide
    assert "only owners of production can approve (its escalation group too" in early
    assert not any("Escalated" in t for t in world.thread(req_id))

    # execution: the idle time passes; the jobs run on for hours
    world.advance(timedelta(minutes=2))
    world.advance(timedelta(hours=2))

    # validating: escalated once, in the card's thread, mentioning the group, and audited
    escalated = [t for t in world.thread(req_id) if t.startswith("Escalated")]
    assert len(escalated) == 1, world.thread(req_id)
    assert f"<!subteam^{leads}>" in escalated[0]
    assert "nobody decided in 30m" in escalated[0]
    assert [a for a, _ in actions(world, req_id)].count("escalated") == 1
    assert world.req(req_id).escalated_at is not None
    assert f"<@{bob}>" in card_text(world, req_id).split("may decide:")[1]

    # execution: bob's approval now counts; carol's completes it
    by_bob = world.http.press("bob", world.card(req_id), "approve")
    world.jobs()
    by_carol = world.http.press("carol", world.card(req_id), "approve")
    world.jobs()

    # validating
    assert "waiting for 1 more approval" in by_bob
    assert f"Approved `{req_id}`" in by_carol
    assert votes(world, req_id) == [bob, carol]
    assert world.req(req_id).state == "ACTIVE"


def test_app_home_lists_escalated_requests_for_the_escalation_group(world: World) -> None:
    # setup
    req_id = world.request("alice", ADMIN)
    bob = world.uid("bob")

    def waiting_for_bob(event_id: str) -> str:
        world.slack.clear_calls()
        world.http.event(
            {"type": "app_home_opened", "user": bob, "channel": "D0BOB", "tab": "home"},
            event_id,
        )
        wait_for(lambda: world.slack.calls_to("views.publish"), what="bob's home tab")
        home = world.slack.home_view("bob")
        assert home is not None
        blocks = home.view["blocks"]
        start = next(
            i
            for i, b in enumerate(blocks)
            if b["type"] == "header" and b["text"]["text"] == "Waiting for my approval"
        )
        return message_text("", blocks[start:])

    # execution + validating: before escalation bob owns only sandbox; after, he may decide
    assert req_id not in waiting_for_bob("Ev0APPROVALS1")
    world.advance(timedelta(minutes=31))
    assert req_id in waiting_for_bob("Ev0APPROVALS2")


def test_a_request_that_could_never_be_approved_is_refused_naming_who_could(
    world: World,
) -> None:
    # setup: carol alone owns production; escalation adds bob: 1 other approver, 2 needed
    world.slack.set_usergroup_users("production-owners", ["carol"])

    # execution
    answer = world.http.ask("carol", "/access", f"request {ADMIN}")

    # validating: refused at once, nothing filed
    assert "this request could never be approved: it needs 2 approvals" in answer
    assert f"only 1 can (<@{world.uid('bob')}>)" in answer
    assert world.requests() == []


def test_an_approval_template_needs_two_and_dms_each_approver(world: World) -> None:
    # setup
    answer = world.http.ask("alice", "/env", "create prod-cluster prod-votes")
    world.jobs()
    assert "needs approval from the owners of production" in answer
    with world.sessions() as s:
        env = s.scalars(select(Environment).where(Environment.name == "prod-votes")).one()
    carol, erin = world.uid("carol"), world.uid("erin")

    def dm_card(user: str) -> Message:
        uid = world.uid(user)
        found = [
            m
            for m in world.slack.visible_messages(uid)
            if m.dm_user == uid and m.text.startswith("prod-votes:")
        ]
        assert len(found) == 1, world.dms(user)
        return found[0]

    # validating: each eligible approver got the card with its buttons by DM; the channel
    # card does not mention the group (notify: dm)
    for user in ("carol", "erin"):
        assert [b["action_id"] for b in buttons(dm_card(user).blocks)][:2] == ["approve", "deny"]
    channel_card = next(
        m
        for m in world.slack.history(world.slack.channel_id("production-approvals"))
        if m.text.startswith("prod-votes:")
    )
    assert "<!subteam^" not in message_text(channel_card.text, channel_card.blocks)

    # execution: carol approves from her DM, erin from the channel card
    first = world.http.press("carol", dm_card("carol"), "approve")
    world.jobs()
    with world.sessions() as s:
        pending = s.get(Environment, env.id)
        assert pending is not None
        state_after_one = pending.state
    second = world.http.press("erin", channel_card, "approve")

    # validating
    assert "waiting for 1 more approval" in first
    assert state_after_one == "PENDING_APPROVAL"
    assert "provisioning starts now" in second
    assert votes(world, env.id) == [carol, erin]
    with world.sessions() as s:
        approved = s.get(Environment, env.id)
        assert approved is not None
    assert approved.state in ("PROVISIONING", "READY")
    assert approved.decided_by == erin


def test_a_vote_by_an_owner_removed_since_does_not_count_on_the_card(world: World) -> None:
    # setup: three owners, admin needs two; carol approves, then leaves the owners
    world.slack.set_usergroup_users("production-owners", ["carol", "erin", "dave"])
    req_id = world.request("alice", ADMIN)
    carol, erin, dave = world.uid("carol"), world.uid("erin"), world.uid("dave")
    world.http.press("carol", world.card(req_id), "approve")
    world.jobs()
    world.slack.set_usergroup_users("production-owners", ["erin", "dave"])

    # execution: erin approves
    answer = world.http.press("erin", world.card(req_id), "approve")
    world.jobs()

    # validating: carol's vote no longer counts (membership is live); the card agrees
    assert "waiting for 1 more approval" in answer
    assert world.req(req_id).state == "PENDING"
    text = card_text(world, req_id)
    assert "2 of 2 approvals" not in text, text
    assert f"1 of 2 approvals: <@{erin}> at" in text
    assert f"<@{carol}>" in text  # her vote is still shown, as no longer counted
    assert f"may decide: <@{dave}>" in text

    # execution: dave's vote reaches two
    assert f"Approved `{req_id}`" in world.http.press("dave", world.card(req_id), "approve")
    world.jobs()
    assert world.req(req_id).state == "ACTIVE"
    assert f"2 of 2 approvals: <@{erin}> at" in card_text(world, req_id)


def test_the_card_says_who_may_decide_once_it_escalates(world: World) -> None:
    # setup: carol (an owner) asks; erin is the only other owner; admin needs two, so bob
    # (platform-leads) is needed after the 30m escalation
    req_id = world.request("carol", ADMIN)
    bob = world.uid("bob")
    world.http.press("erin", world.card(req_id), "approve")
    world.jobs()

    # validating: not "nobody": the card names the escalation group (without pinging it
    # before it is due) and when it may decide
    line = card_text(world, req_id).split("may decide:")[1]
    assert line.strip().startswith("nobody until <!date^"), line
    assert "then @platform-leads (its escalation group)" in line, line
    assert "<!subteam^" not in line

    # execution: it escalates; bob may decide now
    world.advance(timedelta(minutes=31))
    assert f"<@{bob}>" in card_text(world, req_id).split("may decide:")[1]


def test_a_requester_in_the_escalation_group_never_decides_their_own(world: World) -> None:
    # setup: bob (platform-leads, production's escalation group) asks; it escalates
    req_id = world.request("bob", ADMIN)
    world.advance(timedelta(minutes=31))
    assert world.req(req_id).escalated_at is not None

    # execution
    answer = world.http.press("bob", world.card(req_id), "approve")

    # validating: told why (not "only owners"), nothing counted, and he is not named
    assert "you cannot approve your own request" in answer, answer
    assert votes(world, req_id) == []
    assert f"<@{world.uid('bob')}>" not in card_text(world, req_id).split("may decide:")[1]
