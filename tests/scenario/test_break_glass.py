"""Auto-approval rules and break-glass with review, over signed HTTP on simulated time.

The demo clock starts on Monday 2026-01-05 at 09:00 UTC: inside production view's rule
(`view-hours`: @engineering, mon-fri 08:00-18:00 in the requester's own time zone).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import AccessRequest, Event
from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_store import Message
from bot.demo.signing import sign
from bot.domain.clock import ManualClock
from bot.policy import Policy, load_policy
from bot.policy.approvals import Approvals, ApprovalsOverride, BreakGlass
from bot.wiring import Runtime
from provisioning.base import AccessBackend
from provisioning.fake import FakeAccessBackend
from tests.scenario.conftest import (
    POLICY_PATH,
    SECRET,
    ScenarioClock,
    SlackClient,
    buttons,
    message_text,
    wait_for,
)

GLASS_ID = re.compile(r"break-glass `(r\w+)`")
INCIDENT = 'production admin 1h "INC-42: the orders database is down"'


def _production(policy: Policy, **changes: object) -> Policy:
    ws = policy.workspaces["production"].model_copy(update=changes)
    return policy.model_copy(update={"workspaces": {**policy.workspaces, "production": ws}})


def escalating(policy: Policy) -> Policy:
    """Production with an escalation group, as issue #16's example has it."""
    return _production(
        policy, approvals=Approvals.model_validate({"escalate_to": ["@platform-leads"]})
    )


def no_escalation(policy: Policy) -> Policy:
    """Production with no escalation group: the owners are pinged instead."""
    return _production(policy, approvals=Approvals())


def role_escalates(policy: Policy) -> Policy:
    """Production with no escalation group; its admin role escalates to @platform-leads."""
    ws = policy.workspaces["production"]
    admin = ws.roles["admin"].model_copy(
        update={"approvals": ApprovalsOverride.model_validate({"escalate_to": ["@platform-leads"]})}
    )
    return _production(policy, approvals=Approvals(), roles={**ws.roles, "admin": admin})


def owners_may_break(policy: Policy) -> Policy:
    """Production where its owners may break the glass too."""
    glass = BreakGlass.model_validate(
        {"allowed": ["@oncall", "@production-owners"], "roles": ["admin"], "max": "1h"}
    )
    return _production(policy, break_glass=glass)


@pytest.fixture
def policy(request: pytest.FixtureRequest) -> Policy:
    variant: Callable[[Policy], Policy] | None = getattr(request, "param", None)
    base = load_policy(POLICY_PATH)
    return variant(base) if variant else base


@dataclass
class World(ScenarioClock):
    http: SlackClient
    slack: FakeSlack
    runtime: Runtime
    backend: FakeAccessBackend
    clock: ManualClock
    sessions: sessionmaker[Session]

    def uid(self, user: str) -> str:
        return self.slack.user_id(user)

    def req(self, req_id: str) -> AccessRequest:
        with self.sessions() as s:
            req = s.get(AccessRequest, req_id)
        assert req is not None, req_id
        return req

    def count(self) -> int:
        with self.sessions() as s:
            return len(s.scalars(select(AccessRequest.id)).all())

    def card(self, req_id: str) -> Message:
        (found,) = [
            m
            for m in self.slack.history(self.slack.channel_id("production-approvals"))
            if req_id in m.text
        ]
        return found

    def card_text(self, req_id: str) -> str:
        card = self.card(req_id)
        return message_text(card.text, card.blocks)

    def thread(self, req_id: str) -> list[str]:
        card = self.card(req_id)
        return [m.text for m in self.slack.replies(card.channel, card.ts)]

    def dms(self, user: str) -> list[str]:
        uid = self.uid(user)
        return [
            message_text(m.text, m.blocks)
            for m in self.slack.visible_messages(uid)
            if m.dm_user == uid
        ]

    def audit(self, req_id: str) -> list[tuple[str, str, str, str]]:
        """(action, actor, from, to) of every audit row of the request, in order."""
        with self.sessions() as s:
            rows = s.scalars(select(Event).where(Event.object_id == req_id).order_by(Event.id))
            return [(e.action, e.actor, e.from_state, e.to_state) for e in rows]

    def detail(self, req_id: str, action: str) -> dict[str, object]:
        with self.sessions() as s:
            (row,) = s.scalars(
                select(Event).where(Event.object_id == req_id, Event.action == action)
            ).all()
            return dict(row.detail)

    def break_glass(self, user: str, text: str = INCIDENT) -> tuple[str, str]:
        """`/access break-glass <text>` as `user`; (the new grant's id, the answer)."""
        answer = self.http.ask(user, "/access", f"break-glass {text}")
        found = GLASS_ID.search(answer)
        assert found, answer
        self.jobs()
        return found.group(1), answer


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


# -- auto-approval -------------------------------------------------------------------------


def test_a_request_inside_the_window_is_auto_approved_by_the_rule(world: World) -> None:
    # execution: Monday 09:00 UTC, alice (UTC) is in @engineering
    answer = world.http.ask("alice", "/access", 'request production view 4h "check the release"')
    req_id = re.search(r"Request `(r\w+)`", answer)
    assert req_id, answer
    world.jobs()
    req = world.req(req_id.group(1))

    # validating: approved by the rule at once, applied by the job, said on the card and in DMs
    assert "was auto-approved by rule view-hours" in answer
    assert req.state == "ACTIVE"
    assert req.decided_by == "rule:view-hours"
    card = world.card_text(req.id)
    assert "Auto-approved by rule view-hours" in card
    assert buttons(world.card(req.id).blocks) == []
    assert "Auto-approved by rule view-hours" in world.thread(req.id)
    assert any(f"`{req.id}` was auto-approved by rule view-hours" in d for d in world.dms("alice"))
    assert world.backend.calls == [("grant", req.id)]
    alice = world.uid("alice")
    assert world.audit(req.id) == [
        ("request", alice, "", "PENDING"),
        ("auto_approved", "rule:view-hours", "PENDING", "APPROVED"),
        ("activate", "envbot", "APPROVED", "ACTIVE"),
    ]
    assert world.detail(req.id, "auto_approved") == {"rule": "view-hours"}


@pytest.mark.parametrize(
    ("user", "tz", "later"),
    [
        # 09:00 UTC is 01:00 in Los Angeles: outside, though inside in UTC
        ("alice", "America/Los_Angeles", timedelta(0)),
        ("alice", "UTC", timedelta(hours=9)),  # Monday 18:00: the window's end is exclusive
        ("alice", "UTC", timedelta(days=5)),  # Saturday 09:00
        ("erin", "UTC", timedelta(0)),  # not in @engineering
    ],
    ids=["los-angeles-night", "end-of-day", "saturday", "not-a-member"],
)
def test_outside_the_window_or_the_group_the_owners_decide(
    world: World, user: str, tz: str, later: timedelta
) -> None:
    # setup
    world.slack.set_tz(user, tz)
    world.clock.set(world.clock.now() + later)

    # execution
    req_id = world.request(user, 'production view 4h "check the release"')

    # validating: the normal approval path
    req = world.req(req_id)
    assert req.state == "PENDING"
    assert req.decided_by == ""
    assert [b["action_id"] for b in buttons(world.card(req_id).blocks)] == [
        "approve",
        "deny",
        "cancel",
    ]
    assert "auto-approved" not in world.card_text(req_id).lower()
    assert [a for a, *_ in world.audit(req_id)] == ["request"]
    assert world.backend.calls == []


def test_the_window_is_read_in_the_requesters_zone_east_of_utc(world: World) -> None:
    # setup: Monday 07:30 UTC is 08:30 in Berlin (inside) and outside in UTC
    world.clock.set(world.clock.now() - timedelta(minutes=90))
    world.slack.set_tz("dave", "Europe/Berlin")

    # execution
    in_berlin = world.request("dave", 'production view 4h "check the release"')
    in_utc = world.request("alice", 'production view 4h "check the dashboards"')

    # validating
    assert world.req(in_berlin).decided_by == "rule:view-hours"
    assert world.req(in_utc).state == "PENDING"


# -- break-glass ---------------------------------------------------------------------------


def test_break_glass_grants_at_once_and_an_owner_reviews_it(world: World) -> None:
    # execution: dave is @oncall; production admin is a break-glass role up to 1h
    req_id, answer = world.break_glass("dave")
    req = world.req(req_id)
    card_before = world.card_text(req_id)
    by_alice = world.http.press("alice", world.card(req_id), "reviewed")
    old_card = world.card(req_id)
    by_carol = world.http.press("carol", old_card, "reviewed")
    world.jobs()
    by_erin = world.http.press("erin", old_card, "reviewed")  # the card as it was shown
    world.skip_to(timedelta(hours=30))

    # validating: granted without approval and applied by the job, loudly
    dave, carol = world.uid("dave"), world.uid("carol")
    assert "you have admin in production for 1h, without approval" in answer
    assert (req.break_glass, req.decided_by) == (True, dave)
    assert world.backend.calls[0] == ("grant", req_id)
    assert ":rotating_light: break-glass" in card_before
    assert f"<@{dave}> granted themselves *admin* in workspace *production* for 1h" in card_before
    assert "INC-42: the orders database is down" in card_before
    assert "Expiry: <!date^" in card_before
    assert "Not reviewed yet" in card_before
    assert [b["action_id"] for b in buttons(old_card.blocks)] == ["reviewed"]
    for owner in ("carol", "erin"):
        (told,) = [d for d in world.dms(owner) if req_id in d]
        assert f"<@{dave}> granted themselves admin in production for 1h" in told
        assert "INC-42" in told
    assert [d for d in world.dms("dave") if "granted themselves" in d] == []
    assert any(f"`{req_id}` was granted by break-glass" in d for d in world.dms("dave"))
    # validating: only an owner reviews, once; the card shows who
    assert "only owners of production can review a break-glass" in by_alice
    assert f"Marked break-glass `{req_id}` reviewed" in by_carol
    assert f"{req_id} was already reviewed by <@{carol}>" in by_erin
    reviewed = world.req(req_id)
    assert (reviewed.reviewed_by, reviewed.review_next_at) == (carol, None)
    assert f"Reviewed by <@{carol}>" in world.card_text(req_id)
    assert buttons(world.card(req_id).blocks) == []
    thread = world.thread(req_id)
    assert f"Reviewed by <@{carol}>" in thread
    assert not [t for t in thread if t.startswith(("Reminder", ":rotating_light: Not reviewed"))]
    assert [a for a, *_ in world.audit(req_id)] == [
        "break_glass",
        "activate",
        "reviewed",
        "expire",
        "finish_expiry",
    ]
    assert world.audit(req_id)[0] == ("break_glass", dave, "", "APPROVED")
    assert world.audit(req_id)[2] == ("reviewed", carol, "ACTIVE", "ACTIVE")


@pytest.mark.parametrize("policy", [owners_may_break], indirect=True)
def test_the_one_who_broke_the_glass_never_reviews_it(world: World) -> None:
    # setup: carol owns production and may break the glass here
    req_id, _ = world.break_glass("carol")

    # execution
    own = world.http.press("carol", world.card(req_id), "reviewed")
    other = world.http.press("erin", world.card(req_id), "reviewed")

    # validating: the other owners were told, not carol; erin's review counts
    assert f"you broke the glass on {req_id} yourself" in own
    assert f"Marked break-glass `{req_id}` reviewed" in other
    assert world.req(req_id).reviewed_by == world.uid("erin")
    assert [d for d in world.dms("carol") if "granted themselves" in d] == []
    assert [d for d in world.dms("erin") if "granted themselves" in d]


@pytest.mark.parametrize(
    ("policy", "pinged", "named"),
    [
        (escalating, ["bob"], "@platform-leads"),
        (no_escalation, ["carol", "erin"], "@production-owners"),
        (role_escalates, ["bob"], "@platform-leads"),
    ],
    indirect=["policy"],
    ids=["escalate-to", "no-escalate-to-owners", "the-roles-escalate-to"],
)
def test_an_unreviewed_break_glass_is_reminded_then_escalated_once(
    world: World, pinged: list[str], named: str
) -> None:
    # setup
    req_id, _ = world.break_glass("dave")

    # execution: review_within is 24h; the owners' reminder comes halfway
    world.skip_to(timedelta(hours=11, minutes=50))
    thread_before = world.thread(req_id)
    world.advance(timedelta(minutes=15))
    world.jobs()
    reminded = world.thread(req_id)
    world.skip_to(timedelta(hours=11, minutes=30))
    before_due = world.thread(req_id)
    world.advance(timedelta(minutes=30))
    world.jobs()
    escalated = world.thread(req_id)
    world.skip_to(timedelta(days=2))

    # validating: one reminder (thread and each owner's DM), then one escalation in the thread
    assert not [t for t in thread_before if t.startswith("Reminder")]
    assert [t for t in reminded if t.startswith("Reminder")] == [
        "Reminder: not reviewed yet; an owner of production must review it by "
        + re.findall(r"<!date\^\d+\^[^>]*>", reminded[-1])[0]
    ]
    for owner in ("carol", "erin"):
        assert len([d for d in world.dms(owner) if d.startswith("Reminder") and req_id in d]) == 1
    assert not [t for t in before_due if "Not reviewed within" in t]
    (ping,) = [t for t in escalated if "Not reviewed within 24h" in t]
    for user in pinged:
        assert f"<@{world.uid(user)}>" in ping
    assert f"({named})" in ping
    assert world.thread(req_id).count(ping) == 1
    assert "overdue" in world.card_text(req_id)
    actions = [a for a, *_ in world.audit(req_id)]
    assert actions.count("review_reminded") == 1
    assert actions.count("review_escalated") == 1
    assert world.req(req_id).review_next_at is None
    # validating: a late review still counts
    assert "reviewed" in world.http.press("carol", world.card(req_id), "reviewed")
    assert world.req(req_id).reviewed_by == world.uid("carol")


@pytest.mark.parametrize(
    ("user", "text", "refusal"),
    [
        (
            "alice",
            INCIDENT,
            "you may not break the glass in production: only @oncall (<@U0DAVE>) may",
        ),
        (
            "dave",
            'production view 1h "INC-42"',
            '"view" has no break-glass in production (break-glass roles there: admin)',
        ),
        (
            "dave",
            'production admin 2h "INC-42"',
            "2h is over the break-glass maximum of 1h in production",
        ),
        ("dave", 'sandbox admin 1h "INC-42"', "sandbox has no break-glass"),
        ("dave", 'nowhere admin 1h "INC-42"', 'unknown workspace "nowhere"'),
    ],
    ids=["not-allowed", "not-a-break-glass-role", "too-long", "no-break-glass", "no-workspace"],
)
def test_break_glass_refusals_say_why(world: World, user: str, text: str, refusal: str) -> None:
    # execution
    answer = world.http.ask(user, "/access", f"break-glass {text}")
    world.jobs()

    # validating
    assert refusal in answer
    assert world.count() == 0
    assert world.backend.calls == []


def test_a_second_break_glass_while_one_is_open_is_refused(world: World) -> None:
    # setup
    first, _ = world.break_glass("dave")

    # execution
    again = world.http.ask("dave", "/access", f"break-glass {INCIDENT}")

    # validating
    assert f"you already broke the glass for admin in production: `{first}` is open" in again
    assert world.count() == 1


def test_a_replayed_break_glass_command_is_a_no_op(world: World) -> None:
    # setup
    body = world.http.slash_body("dave", "/access", f"break-glass {INCIDENT}")
    headers = sign(SECRET, body)

    # execution
    first = world.http.post(body, headers)
    replay = world.http.post(body, headers)
    wait_for(world.count, what="the break-glass row")
    world.jobs()

    # validating: one grant, one card, one DM per owner
    assert (first.status_code, replay.status_code, replay.text) == (200, 200, "")
    assert world.count() == 1
    with world.sessions() as s:
        (req_id,) = s.scalars(select(AccessRequest.id)).all()
    assert [a for a, *_ in world.audit(req_id)] == ["break_glass", "activate"]
    assert world.backend.calls == [("grant", req_id)]
    assert len([d for d in world.dms("carol") if "granted themselves" in d]) == 1


def test_the_break_glass_form_keeps_field_errors_then_grants(world: World) -> None:
    # execution: arguments missing, so the form opens pre-filled
    assert world.http.command("dave", "/access", "break-glass production").status_code == 200
    view = wait_for(
        lambda: [
            v for v in world.slack.open_modals("dave") if v.view["callback_id"] == "break_glass"
        ],
        what="the break-glass form",
    )[-1]
    too_long = world.http.submit("dave", view, {"role": "admin", "duration": "3h", "reason": "x"})
    rows_after = world.count()
    ok = world.http.submit("dave", view, {"role": "admin", "duration": "30m", "reason": "INC-7"})
    wait_for(world.count, what="the break-glass row")
    world.jobs()

    # validating
    assert too_long.json()["response_action"] == "errors"
    assert list(too_long.json()["errors"]) == ["duration"]
    assert rows_after == 0
    assert (ok.status_code, ok.text) == (200, "")
    with world.sessions() as s:
        (req,) = s.scalars(select(AccessRequest)).all()
    assert (req.break_glass, req.duration_s, req.state) == (True, 1800, "ACTIVE")
    assert any(":rotating_light: break-glass" in d for d in world.dms("dave"))


def test_help_lists_break_glass(world: World) -> None:
    # execution
    answer = world.http.ask("dave", "/access", "help")

    # validating
    assert '/access break-glass <workspace> <role> <duration> "<reason>"' in answer


def test_a_break_glass_grant_extends_only_within_the_break_glass_max(world: World) -> None:
    # setup: production admin may last 2h, break-glass at most 1h
    req_id, _ = world.break_glass("dave", 'production admin 30m "INC-42"')
    expires = world.req(req_id).expires_at
    assert expires is not None

    # execution
    within = world.http.ask("dave", "/access", f"extend {req_id} 30m")
    beyond = world.http.ask("dave", "/access", f"extend {req_id} 1h")

    # validating
    assert f"Extended `{req_id}`" in within
    assert "break-glass admin in production lasts at most 1h from activation" in beyond
    assert world.req(req_id).expires_at == expires + timedelta(minutes=30)
