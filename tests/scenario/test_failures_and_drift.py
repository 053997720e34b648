"""Failures and drift over signed HTTP on simulated time: failed and retried grants, revokes that
keep failing, drift on grants and environments, environment reminders and failed deletes."""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import AccessRequest, Environment, Event
from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_store import Message
from bot.domain.clock import ManualClock
from bot.errors import PermanentError
from bot.policy import Policy, load_policy
from bot.wiring import Runtime
from provisioning.base import AccessBackend, EnvSpec
from provisioning.fake import FakeAccessBackend, FakeEnvironmentBackend
from tests.scenario.conftest import (
    POLICY_PATH,
    ScenarioClock,
    SlackClient,
    buttons,
    message_text,
)

STUCK = "the owners of sandbox should check the cluster"


class EnvBackend(FakeEnvironmentBackend):
    """The fake, plus a delete that can be made to fail once (the fake's delete never fails)."""

    def __init__(self, clock: ManualClock) -> None:
        super().__init__(clock)
        self._next_delete_failure = ""

    def fail_next_delete(self, reason: str) -> None:
        self._next_delete_failure = reason

    def delete(self, spec: EnvSpec) -> None:
        if self._next_delete_failure:
            reason, self._next_delete_failure = self._next_delete_failure, ""
            self.calls.append(("delete", spec.env_id))
            raise PermanentError(reason)
        super().delete(spec)


@pytest.fixture
def policy(request: pytest.FixtureRequest, tmp_path: Path) -> Policy:
    """The example policy; `@pytest.mark.parametrize("policy", ["report"], indirect=True)`
    loads a copy of it with `drift: report` instead."""
    drift = getattr(request, "param", "reapply")
    text = POLICY_PATH.read_text()
    assert "\ndrift: reapply\n" in text
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace("\ndrift: reapply\n", f"\ndrift: {drift}\n"))
    # the sandbox template's manifests file is relative to the policy
    shutil.copytree(POLICY_PATH.parent / "templates", tmp_path / "templates")
    loaded = load_policy(path)
    assert loaded.drift == drift
    return loaded


@pytest.fixture
def env_backend(clock: ManualClock) -> EnvBackend:
    return EnvBackend(clock)


@dataclass
class World(ScenarioClock):
    http: SlackClient
    slack: FakeSlack
    runtime: Runtime
    grants: FakeAccessBackend
    envs: EnvBackend
    clock: ManualClock
    sessions: sessionmaker[Session]

    # -- time -------------------------------------------------------------------------------

    # -- access -----------------------------------------------------------------------------

    def approve(self, req_id: str, approver: str = "bob") -> None:
        answer = self.http.press(approver, self.card(req_id), "approve")
        assert f"Approved `{req_id}`" in answer
        self.jobs()

    def approved(self, user: str, text: str) -> str:
        req_id = self.request(user, text)
        self.approve(req_id)
        assert self.req(req_id).state == "ACTIVE"
        return req_id

    def req(self, req_id: str) -> AccessRequest:
        with self.sessions() as s:
            req = s.get(AccessRequest, req_id)
        assert req is not None, req_id
        return req

    def card(self, req_id: str) -> Message:
        channel = self.slack.channel_id("sandbox-approvals")
        found = [
            m for m in self.slack.history(channel) if m.text.startswith(f"Access request {req_id}:")
        ]
        assert len(found) == 1, found
        return found[0]

    def thread(self, req_id: str) -> list[str]:
        card = self.card(req_id)
        return [m.text for m in self.slack.replies(card.channel, card.ts)]

    # -- environments -----------------------------------------------------------------------

    @property
    def platform(self) -> str:
        return self.slack.channel_id("platform")

    def ready(self, name: str, user: str = "alice") -> Environment:
        self.http.ask(user, "/env", f'create sandbox {name} --reason "scenario"')
        self.jobs()
        self.advance(timedelta(minutes=30))
        env = self.env(name)
        assert env.state == "READY"
        return env

    def env(self, name: str) -> Environment:
        with self.sessions() as s:
            env = s.scalars(select(Environment).where(Environment.name == name)).one()
        return env

    def env_card(self, name: str) -> Message:
        cards = [m for m in self.slack.history(self.platform) if m.text.startswith(f"{name}:")]
        assert len(cards) == 1, [m.text for m in self.slack.history(self.platform)]
        return cards[0]

    def env_thread(self, name: str) -> list[str]:
        return [m.text for m in self.slack.replies(self.platform, self.env_card(name).ts)]

    # -- shared -----------------------------------------------------------------------------

    def dm_messages(self, user: str) -> list[Message]:
        uid = self.slack.user_id(user)
        return [m for m in self.slack.visible_messages(uid) if m.dm_user == uid]

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

    def uid(self, user: str) -> str:
        return self.slack.user_id(user)


def _text(msg: Message) -> str:
    return message_text(msg.text, msg.blocks)


def _labels(msg: Message) -> list[str]:
    return [b["text"]["text"] for b in buttons(msg.blocks)]


@pytest.fixture
def world(
    slack_http: SlackClient,
    fake_slack: FakeSlack,
    runtime: Runtime,
    access_backends: dict[str, AccessBackend],
    env_backend: EnvBackend,
    clock: ManualClock,
    sessions: sessionmaker[Session],
) -> World:
    grants = access_backends["fake"]
    assert isinstance(grants, FakeAccessBackend)
    return World(slack_http, fake_slack, runtime, grants, env_backend, clock, sessions)


# -- 1. a permanent grant failure: Retry or Revoke now -------------------------------------------


def _failed_grant(world: World) -> str:
    """alice's sandbox view request, approved by bob, whose grant the backend refused."""
    world.grants.fail_next_grant("webhook denied")
    req_id = world.request("alice", 'sandbox view 1d "read the logs"')
    world.approve(req_id)
    return req_id


@pytest.mark.parametrize("presser", ["alice", "bob"])
def test_failed_grant_then_retry_activates_it(world: World, presser: str) -> None:
    # setup
    req_id = _failed_grant(world)
    failed_state = world.req(req_id).state
    failed_card = world.card(req_id)
    failed_thread = world.thread(req_id)
    calls_before = list(world.grants.calls)
    held_before = world.grants.active()

    # execution
    answer = world.http.press(presser, failed_card, "retry")
    world.jobs()

    # validating: FAILED, with the reason on the card and in the thread, and two buttons
    assert failed_state == "FAILED"
    assert "Granting failed: webhook denied" in _text(failed_card)
    assert [b["action_id"] for b in buttons(failed_card.blocks)] == ["retry", "revoke_now"]
    assert _labels(failed_card) == ["Retry", "Revoke now"]
    assert [t for t in failed_thread if t.startswith("Granting failed")] == [
        "Granting failed: webhook denied. Retry or Revoke now on the card."
    ]
    assert calls_before == [("grant", req_id)]
    assert held_before == {}
    # validating: Retry applied it once more, and it is ACTIVE with a clean card
    assert f"Retrying `{req_id}`" in answer
    req = world.req(req_id)
    assert (req.state, req.failure, req.attempts) == ("ACTIVE", "", 0)
    assert world.grants.calls == [("grant", req_id), ("grant", req_id)]
    assert list(world.grants.active()) == [req_id]
    card = world.card(req_id)
    assert buttons(card.blocks) == []
    assert "Granting failed" not in _text(card)
    assert any(t.startswith("Granted until") for t in world.thread(req_id))
    assert world.changes(req_id)[-3:] == [
        ("envbot", "APPROVED", "FAILED"),
        (world.uid(presser), "FAILED", "APPROVED"),
        ("envbot", "APPROVED", "ACTIVE"),
    ]


def test_failed_grant_then_revoke_now_cleans_up(world: World) -> None:
    # setup
    req_id = _failed_grant(world)
    assert world.req(req_id).state == "FAILED"

    # execution
    answer = world.http.press("bob", world.card(req_id), "revoke_now")
    world.jobs()

    # validating: FAILED -> REVOKING -> REVOKED, with a revoke for what was half-applied
    assert f"Revoking `{req_id}`" in answer
    assert world.req(req_id).state == "REVOKED"
    assert world.grants.calls == [("grant", req_id), ("revoke", req_id)]
    assert world.grants.active() == {}
    assert buttons(world.card(req_id).blocks) == []
    assert world.changes(req_id)[-2:] == [
        (world.uid("bob"), "FAILED", "REVOKING"),
        ("envbot", "REVOKING", "REVOKED"),
    ]
    assert any(t.startswith("Access was revoked") for t in world.thread(req_id))


# -- 2. a temporary grant failure is retried by the reconcile job --------------------------------


def test_temporary_grant_failure_is_retried_after_backoff(world: World) -> None:
    # setup
    world.grants.fail_next_grant("apiserver timeout", temporary=True)
    req_id = world.request("alice", 'sandbox view 1d "read the logs"')

    # execution
    world.approve(req_id)
    waiting = world.req(req_id)
    calls_waiting = list(world.grants.calls)
    world.advance(timedelta(minutes=2))
    world.jobs()

    # validating: APPROVED with the failure noted and a retry 60s out, then ACTIVE
    assert (waiting.state, waiting.failure, waiting.attempts) == (
        "APPROVED",
        "apiserver timeout",
        1,
    )
    assert waiting.next_check_at is not None
    assert waiting.decided_at is not None
    assert waiting.next_check_at - waiting.decided_at == timedelta(seconds=60)
    assert calls_waiting == [("grant", req_id)]
    req = world.req(req_id)
    assert (req.state, req.failure, req.attempts) == ("ACTIVE", "", 0)
    assert world.grants.calls == [("grant", req_id), ("grant", req_id)]
    assert list(world.grants.active()) == [req_id]
    assert not any("failed" in t.lower() for t in world.thread(req_id))
    assert world.changes(req_id)[-2:] == [
        (world.uid("bob"), "PENDING", "APPROVED"),
        ("envbot", "APPROVED", "ACTIVE"),
    ]


# -- 3. a revoke that keeps failing --------------------------------------------------------------


def test_revoke_keeps_failing_alerts_owners_once_and_never_leaves_access_granted(
    world: World,
) -> None:
    # setup
    req_id = world.approved("alice", 'sandbox admin 4h "fix the ingress"')
    world.grants.fail_revokes(5)

    # execution: revoke, then one-minute job runs until it is done (or 30 minutes pass)
    answer = world.http.ask("alice", "/access", f"revoke {req_id}")
    seen: list[tuple[str, bool]] = [(world.req(req_id).state, req_id in world.grants.active())]
    revoke_times: list[datetime] = []
    world.jobs()
    # revoke calls so far -> owners' alerts in the thread
    stuck_after = {1: sum(STUCK in t for t in world.thread(req_id))}
    for _ in range(30):
        before = world.grants.calls.count(("revoke", req_id))
        world.advance(timedelta(minutes=1))
        world.jobs()
        after = world.grants.calls.count(("revoke", req_id))
        if after > before:
            revoke_times.append(world.clock.now())
        stuck_after[after] = sum(STUCK in t for t in world.thread(req_id))
        seen.append((world.req(req_id).state, req_id in world.grants.active()))
        if seen[-1][0] == "REVOKED":
            break
    for _ in range(3):  # and a while longer: nothing more happens
        world.advance(timedelta(minutes=5))
    world.jobs()

    # validating: REVOKING for as long as the backend still holds the grant
    assert f"Revoking `{req_id}`" in answer
    assert seen[0] == ("REVOKING", True)
    for state, held in seen:
        assert held == (state != "REVOKED"), seen
        assert state in ("REVOKING", "REVOKED"), seen
    assert seen[-1] == ("REVOKED", False)
    assert world.req(req_id).state == "REVOKED"
    assert req_id not in world.grants.active()
    # validating: five failures and the success, each retry further out than the one before
    assert world.grants.calls.count(("revoke", req_id)) == 6
    gaps = [b - a for a, b in itertools.pairwise(revoke_times)]
    assert gaps == sorted(gaps), gaps
    assert gaps[0] > timedelta(seconds=59)
    # validating: the owners were told once, from the third failure on; the end is threaded
    assert stuck_after == {1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 1}
    stuck = [t for t in world.thread(req_id) if STUCK in t]
    assert len(stuck) == 1, world.thread(req_id)
    assert stuck[0].startswith("Revoking keeps failing (simulated failure revoking")
    assert any(t.startswith("Access was revoked") for t in world.thread(req_id))
    assert world.changes(req_id)[-2:] == [
        (world.uid("alice"), "ACTIVE", "REVOKING"),
        ("envbot", "REVOKING", "REVOKED"),
    ]


# -- 4. drift on an ACTIVE grant -----------------------------------------------------------------


def test_drift_on_a_grant_is_reapplied(world: World) -> None:
    # setup: the example policy says drift: reapply
    req_id = world.approved("alice", 'sandbox view 1d "read the logs"')
    world.grants.drift(req_id)
    assert req_id not in world.grants.active()

    # execution: two reconcile passes
    world.advance(timedelta(minutes=1))
    world.jobs()
    world.advance(timedelta(minutes=1))
    world.jobs()

    # validating
    drift = [t for t in world.thread(req_id) if t.startswith("Drift:")]
    assert drift == ["Drift: the grant's objects were removed outside envbot; re-applied"]
    events = [e for e in world.events(req_id) if e.action == "drift"]
    assert len(events) == 1
    assert (events[0].actor, events[0].from_state, events[0].to_state) == (
        "envbot",
        "ACTIVE",
        "ACTIVE",
    )
    assert events[0].detail["reapply"] is True
    assert list(world.grants.active()) == [req_id]
    assert world.grants.calls == [("grant", req_id), ("grant", req_id)]
    assert world.req(req_id).state == "ACTIVE"


@pytest.mark.parametrize("policy", ["report"], indirect=True)
def test_drift_on_a_grant_is_only_reported_with_drift_report(world: World) -> None:
    # setup
    req_id = world.approved("alice", 'sandbox view 1d "read the logs"')
    world.grants.drift(req_id, "the RoleBinding was edited by hand")

    # execution
    world.advance(timedelta(minutes=1))
    world.jobs()

    # validating
    drift = [t for t in world.thread(req_id) if t.startswith("Drift:")]
    assert drift == ["Drift: the RoleBinding was edited by hand; reported only (drift: report)"]
    events = [e for e in world.events(req_id) if e.action == "drift"]
    assert events
    assert events[0].detail["reapply"] is False
    assert world.grants.active() == {}
    assert world.grants.calls == [("grant", req_id)]
    assert world.req(req_id).state == "ACTIVE"


# -- 5. drift on a READY environment -------------------------------------------------------------


def test_drift_on_a_ready_environment_is_threaded_once(world: World) -> None:
    # setup
    env = world.ready("drifty")
    world.envs.vanish(env.id)

    # execution: the jobs twice over
    world.advance(timedelta(minutes=1))
    world.jobs()
    once = [t for t in world.env_thread("drifty") if t.startswith("Drift:")]
    world.advance(timedelta(minutes=1))
    world.jobs()

    # validating
    drift = [t for t in world.env_thread("drifty") if t.startswith("Drift:")]
    assert drift == once
    assert drift == [
        "Drift: objects of drifty were removed outside envbot (changed outside envbot); "
        "re-applying them"
    ]
    events = [e for e in world.events(env.id) if e.action == "drift"]
    assert events
    assert (events[0].actor, events[0].from_state, events[0].to_state) == (
        "envbot",
        "READY",
        "READY",
    )
    assert events[0].detail["reapply"] is True
    assert world.env("drifty").state == "READY"


# -- 6. environment reminders --------------------------------------------------------------------


def test_env_reminder_once_then_delete_now_from_it_stops_reminders(world: World) -> None:
    # setup: a sandbox lives 3d, so the 24h reminder falls 2d after creation (09:00 UTC)
    env = world.ready("remind")
    name = env.name

    def reminders() -> list[Message]:
        return [
            m
            for m in world.dm_messages("alice")
            if name in m.text and "will be deleted in" in m.text
        ]

    # execution
    world.skip_to(env.expires_at - timedelta(hours=24, minutes=5) - world.clock.now())
    early = len(reminders())
    world.advance(timedelta(minutes=10))
    world.jobs()
    first = reminders()
    world.advance(timedelta(minutes=30))
    world.jobs()
    again = len(reminders())
    answer = world.http.press("alice", first[0], "delete_now")
    world.jobs()
    deleting = world.env(name).state
    world.advance(timedelta(minutes=10))
    world.jobs()
    deleted = world.env(name).state
    world.skip_to(env.expires_at - timedelta(minutes=30) - world.clock.now())
    world.skip_to(timedelta(hours=1))
    world.jobs()

    # validating: one reminder, with the three buttons
    assert early == 0
    assert len(first) == 1
    assert _labels(first[0]) == ["Extend 2d", "Delete now", "Keep as is"]
    assert "will be deleted in 24h" in first[0].text or "will be deleted in 23h" in first[0].text
    assert again == 1
    # validating: Delete now on the reminder deleted it, and no 1h reminder followed
    assert f"Deleting `{name}`" in answer
    assert (deleting, deleted) == ("DELETING", "DELETED")
    assert len(reminders()) == 1
    assert world.envs.calls.count(("delete", env.id)) == 1
    assert not world.envs.exists(env.id)
    assert [c[1:] for c in world.changes(env.id)][-2:] == [
        ("READY", "DELETING"),
        ("DELETING", "DELETED"),
    ]
    assert world.changes(env.id)[-2][0] == world.uid("alice")


# -- 7. an environment that fails while being deleted --------------------------------------------


def test_delete_that_fails_then_delete_now_again_deletes(world: World) -> None:
    # setup: the backend refuses the first delete
    env = world.ready("stubborn")
    world.envs.fail_next_delete("finalizer stuck on the load balancer")
    world.http.ask("alice", "/env", "delete stubborn")
    uid = world.uid("alice")
    (confirm,) = [
        m
        for m in world.slack.visible_messages(uid)
        if m.ephemeral_to == uid and any(b["action_id"] == "delete_now" for b in buttons(m.blocks))
    ]
    first = world.http.press("alice", confirm, "delete_now")
    world.jobs()
    failed = world.env("stubborn")
    failed_card = world.env_card("stubborn")

    # execution
    again = world.http.press("alice", failed_card, "delete_now")
    world.jobs()
    deleting = world.env("stubborn").state
    world.advance(timedelta(minutes=10))
    world.jobs()

    # validating: FAILED, with the reason; a failed delete is retried by deleting, so the card
    # offers Delete now only (Retry would provision it again)
    assert "Deleting `stubborn`" in first
    assert (failed.state, failed.failure) == ("FAILED", "finalizer stuck on the load balancer")
    assert [b["action_id"] for b in buttons(failed_card.blocks)] == ["delete_now"]
    assert "finalizer stuck on the load balancer" in _text(failed_card)
    # validating: Delete now again -> DELETING -> DELETED
    assert "Deleting `stubborn`" in again
    assert deleting == "DELETING"
    assert world.env("stubborn").state == "DELETED"
    assert not world.envs.exists(env.id)
    assert world.envs.calls.count(("delete", env.id)) == 2
    assert buttons(world.env_card("stubborn").blocks) == []
    assert [c[1:] for c in world.changes(env.id)][-4:] == [
        ("READY", "DELETING"),
        ("DELETING", "FAILED"),
        ("FAILED", "DELETING"),
        ("DELETING", "DELETED"),
    ]
    thread = world.env_thread("stubborn")
    assert any("finalizer stuck on the load balancer" in t for t in thread), thread


# -- regressions: bugs found while writing these, now fixed ----------------------------------------


def test_fail_while_deleting_shows_the_failed_card(world: World) -> None:
    # setup
    env = world.ready("doomed")
    world.http.ask("alice", "/env", "delete doomed")
    uid = world.uid("alice")
    (confirm,) = [
        m
        for m in world.slack.visible_messages(uid)
        if m.ephemeral_to == uid and any(b["action_id"] == "delete_now" for b in buttons(m.blocks))
    ]
    world.http.press("alice", confirm, "delete_now")
    world.jobs()
    assert world.env("doomed").state == "DELETING"

    # execution
    world.envs.fail(env.id, "volume detach timed out")
    world.advance(timedelta(minutes=1))
    world.jobs()

    # validating
    assert world.env("doomed").state == "FAILED"
    card = world.env_card("doomed")
    assert [b["action_id"] for b in buttons(card.blocks)] == ["delete_now"]
    assert any(
        t.startswith("Deleting failed: volume detach timed out") for t in world.env_thread("doomed")
    )


@pytest.mark.parametrize("policy", ["report"], indirect=True)
def test_persistent_grant_drift_is_audited_once(world: World) -> None:
    # setup
    req_id = world.approved("alice", 'sandbox view 1d "read the logs"')
    world.grants.drift(req_id)

    # execution: three reconcile passes
    for _ in range(3):
        world.advance(timedelta(minutes=1))

    # validating
    assert len([t for t in world.thread(req_id) if t.startswith("Drift:")]) == 1
    assert len([e for e in world.events(req_id) if e.action == "drift"]) == 1


@pytest.mark.parametrize("policy", ["report"], indirect=True)
def test_persistent_env_drift_is_audited_once(world: World) -> None:
    # setup
    env = world.ready("drifty")
    world.envs.vanish(env.id)

    # execution: three reconcile passes
    for _ in range(3):
        world.advance(timedelta(minutes=1))

    # validating
    drift = [t for t in world.env_thread("drifty") if t.startswith("Drift:")]
    assert drift == [
        "Drift: objects of drifty were removed outside envbot (changed outside envbot); "
        "reporting only (drift: report)"
    ]
    assert len([e for e in world.events(env.id) if e.action == "drift"]) == 1


def test_drift_that_comes_back_is_threaded_again(world: World) -> None:
    # setup
    req_id = world.approved("alice", 'sandbox view 1d "read the logs"')
    world.grants.drift(req_id)
    world.advance(timedelta(minutes=1))
    assert req_id in world.grants.active()

    # execution
    world.grants.drift(req_id)
    world.advance(timedelta(minutes=1))
    world.jobs()

    # validating
    assert req_id in world.grants.active()
    assert len([e for e in world.events(req_id) if e.action == "drift"]) == 2
    assert len([t for t in world.thread(req_id) if t.startswith("Drift:")]) == 2


def _exhaust_temporary_grant_failures(world: World) -> str:
    """A grant that failed temporarily MAX_GRANT_ATTEMPTS (8) times in a row: FAILED."""
    world.grants.fail_next_grant("apiserver timeout", temporary=True)
    req_id = world.request("alice", 'sandbox view 1d "read the logs"')
    world.approve(req_id)
    for _ in range(60):
        if world.req(req_id).state != "APPROVED":
            break
        world.grants.fail_next_grant("apiserver timeout", temporary=True)
        world.advance(timedelta(minutes=1))
    world.jobs()
    assert world.req(req_id).state == "FAILED"
    assert world.grants.calls == [("grant", req_id)] * 8
    return req_id


def test_exhausted_temporary_grant_failures_are_threaded(world: World) -> None:
    # setup / execution
    req_id = _exhaust_temporary_grant_failures(world)

    # validating: the card shows it; the thread should too
    card = world.card(req_id)
    assert "Granting failed: apiserver timeout" in _text(card)
    assert _labels(card) == ["Retry", "Revoke now"]
    assert any(t.startswith("Granting failed: apiserver timeout") for t in world.thread(req_id))


def test_cleanup_after_exhausted_retries_still_alerts_owners(world: World) -> None:
    # setup
    req_id = _exhaust_temporary_grant_failures(world)
    world.grants.fail_revokes(4)

    # execution
    answer = world.http.press("alice", world.card(req_id), "revoke_now")
    for _ in range(24):
        world.advance(timedelta(minutes=5))
        if world.req(req_id).state == "REVOKED":
            break
    world.jobs()

    # validating
    assert f"Revoking `{req_id}`" in answer
    assert world.req(req_id).state == "REVOKED"
    assert len([t for t in world.thread(req_id) if STUCK in t]) == 1


def test_retry_after_exhausted_retries_gets_fresh_attempts(world: World) -> None:
    # setup
    req_id = _exhaust_temporary_grant_failures(world)
    world.grants.fail_next_grant("apiserver timeout", temporary=True)

    # execution
    answer = world.http.press("alice", world.card(req_id), "retry")
    world.jobs()

    # validating: one more temporary failure leaves it APPROVED, to be retried by the job
    assert f"Retrying `{req_id}`" in answer
    assert world.req(req_id).state == "APPROVED"
