"""Environments over signed HTTP with the fake backend on simulated time: create to delete."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment, Event
from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_store import Message
from bot.domain.clock import ManualClock
from bot.wiring import Runtime
from provisioning.base import EnvSpec
from provisioning.fake import FakeEnvironmentBackend
from tests.scenario.conftest import RuntimeFactory, SlackClient, buttons, message_text, wait_for


@dataclass
class World:
    http: SlackClient
    slack: FakeSlack
    runtime: Runtime
    backend: FakeEnvironmentBackend
    clock: ManualClock
    sessions: sessionmaker[Session]

    @property
    def platform(self) -> str:
        return self.slack.channel_id("platform")

    def jobs(self, runtime: Runtime | None = None) -> None:
        """Run the jobs over ten simulated seconds: the drain sends one message/s per channel."""
        (runtime or self.runtime).jobs.step(self.clock, 10)

    def advance(self, delta: timedelta) -> None:
        self.runtime.jobs.advance(self.clock, delta)

    def create(self, user: str, text: str) -> str:
        answer = self.http.ask(user, "/env", f"create {text}")
        self.jobs()
        return answer

    def env(self, name: str) -> Environment:
        with self.sessions() as s:
            env = s.scalars(
                select(Environment)
                .where(Environment.name == name)
                .order_by(Environment.created_at.desc())
            ).first()
        assert env is not None, name
        return env

    def card(self, name: str) -> Message:
        cards = [m for m in self.slack.history(self.platform) if m.text.startswith(f"{name}:")]
        assert len(cards) == 1, [m.text for m in self.slack.history(self.platform)]
        return cards[0]

    def thread(self, name: str) -> list[str]:
        return [m.text for m in self.slack.replies(self.platform, self.card(name).ts)]

    def dms(self, user: str) -> list[str]:
        uid = self.slack.user_id(user)
        return [_text(m) for m in self.slack.visible_messages(uid) if m.dm_user == uid]

    def events(self, env_id: str) -> list[Event]:
        with self.sessions() as s:
            return list(
                s.scalars(select(Event).where(Event.object_id == env_id).order_by(Event.id))
            )


def _text(msg: Message) -> str:
    return message_text(msg.text, msg.blocks)


@pytest.fixture
def world(
    slack_http: SlackClient,
    fake_slack: FakeSlack,
    runtime: Runtime,
    env_backend: FakeEnvironmentBackend,
    clock: ManualClock,
    sessions: sessionmaker[Session],
) -> World:
    return World(slack_http, fake_slack, runtime, env_backend, clock, sessions)


def _ready(world: World, name: str, user: str = "alice") -> Environment:
    world.create(user, f'sandbox {name} --reason "scenario"')
    world.advance(timedelta(minutes=30))
    env = world.env(name)
    assert env.state == "READY"
    return env


def test_create_to_ready_posts_each_phase_once_and_dms_access(
    world: World, make_runtime: RuntimeFactory
) -> None:
    # execution
    answer = world.create("alice", 'sandbox demo-alice --reason "try the new ingress"')

    # validating: the answer, the card in #platform and the first thread reply
    assert "Creating `demo-alice`" in answer
    assert world.card("demo-alice").channel == world.platform
    assert any(t.startswith("Accepted") for t in world.thread("demo-alice"))

    # execution: let the fake cluster come up, then run the jobs again, and after a "restart"
    world.advance(timedelta(minutes=30))
    world.jobs()
    world.jobs()
    restarted = make_runtime()
    world.jobs(restarted)
    restarted.jobs.advance(world.clock, timedelta(minutes=5))

    # validating
    env = world.env("demo-alice")
    assert env.state == "READY"
    thread = world.thread("demo-alice")
    for phase in ("Accepted", "Infrastructure provisioning", "Control plane ready", "Ready"):
        assert sum(t.startswith(phase) for t in thread) == 1, thread
    assert "Attached to Kommander" in "\n".join(thread)
    assert [n for n, c in Counter(thread).items() if c > 1] == []
    access = [d for d in world.dms("alice") if "demo-alice" in d]
    assert len(access) == 1, access
    assert "oidc-login" in access[0]
    assert "https://management.example.com/token" in access[0]
    assert "-kubeconfig" not in access[0]
    states = [(e.from_state, e.to_state) for e in world.events(env.id)]
    assert ("PROVISIONING", "READY") in states
    assert any(to == "PROVISIONING" for _, to in states)


def test_extend_default_explicit_and_over_cap(world: World) -> None:
    # setup
    _ready(world, "ext")

    # execution
    default = world.http.ask("alice", "/env", "extend ext")
    explicit = world.http.ask("alice", "/env", "extend ext 2d")
    over = world.http.ask("alice", "/env", "extend ext 20d")

    # validating
    assert "Extended `ext`" in default
    assert "Extended `ext`" in explicit
    assert "can live at most 14d" in over
    assert "extend it by at most 7d more (until <!date^" in over  # no date arithmetic
    env = world.env("ext")
    assert env.expires_at - env.created_at == timedelta(days=3 + 2 + 2)
    assert [e.action for e in world.events(env.id)].count("extend") == 2


def test_only_owner_or_workspace_owner_may_extend_or_delete(world: World) -> None:
    # setup
    env = _ready(world, "guarded")

    # execution
    dave_extend = world.http.ask("dave", "/env", "extend guarded")
    dave_delete = world.http.ask("dave", "/env", "delete guarded")
    bob_extend = world.http.ask("bob", "/env", "extend guarded")
    bob_delete = world.http.ask("bob", "/env", "delete guarded")

    # validating
    assert "only the owner of guarded" in dave_extend
    assert "only the owner of guarded" in dave_delete
    assert "Extended `guarded`" in bob_extend
    assert "Delete now" in bob_delete
    assert world.env("guarded").expires_at > env.expires_at


def test_transfer_then_delete_with_confirm_button(world: World) -> None:
    # setup
    env = _ready(world, "handover")
    bob = world.slack.user_id("bob")

    # execution: transfer as Slack escapes the mention, then bob deletes it
    moved = world.http.ask("alice", "/env", f"transfer handover <@{bob}|bob>")
    world.jobs()
    world.http.ask("bob", "/env", "delete handover")
    (confirm,) = [
        m
        for m in world.slack.visible_messages(bob)
        if m.ephemeral_to == bob and any(b["action_id"] == "delete_now" for b in buttons(m.blocks))
    ]
    deleting = world.http.press("bob", confirm, "delete_now")
    world.jobs()
    world.slack.clear_calls()
    world.advance(timedelta(minutes=10))

    # validating
    assert "now belongs to" in moved
    assert world.env("handover").owner_id == bob
    assert "Deleting `handover`" in deleting
    assert world.env("handover").state == "DELETED"
    assert any("handover" in d and "deleted" in d for d in world.dms("bob"))
    card_ts = world.card("handover").ts
    updates = [c for c in world.slack.calls_to("chat.update") if c.params.get("ts") == card_ts]
    assert updates
    assert buttons(world.card("handover").blocks) == []
    assert ("delete", env.id) in world.backend.calls
    changes = [
        (e.from_state, e.to_state) for e in world.events(env.id) if e.from_state != e.to_state
    ]
    assert changes == [
        ("", "REQUESTED"),
        ("REQUESTED", "PROVISIONING"),
        ("PROVISIONING", "READY"),
        ("READY", "DELETING"),
        ("DELETING", "DELETED"),
    ]


def test_quota_refuses_a_third_sandbox(world: World) -> None:
    # setup
    world.create("alice", "sandbox one")
    world.create("alice", "sandbox two")

    # execution
    answer = world.http.ask("alice", "/env", "create sandbox three")

    # validating
    assert "you already have 2 sandbox environment(s)" in answer
    with world.sessions() as s:
        assert s.scalar(select(Environment).where(Environment.name == "three")) is None


def test_duplicate_name_is_refused_in_any_workspace(world: World) -> None:
    # setup
    world.create("alice", "sandbox taken")

    # execution: the same workspace, and another one
    answer = world.http.ask("bob", "/env", "create sandbox taken")
    elsewhere = world.http.ask("bob", "/env", "create prod-cluster taken")

    # validating
    assert 'an environment named "taken" already exists; pick another name' in answer
    assert 'an environment named "taken" already exists; pick another name' in elsewhere


def test_failed_create_then_delete_now_leaks_nothing(world: World) -> None:
    # setup
    world.backend.fail_next_create("quota exceeded in us-west-2")
    world.create("alice", "sandbox broken")
    world.advance(timedelta(minutes=5))
    env = world.env("broken")
    assert env.state == "FAILED"
    card = world.card("broken")
    labels = {b["action_id"] for b in buttons(card.blocks)}
    assert {"retry", "delete_now"} <= labels

    # execution
    answer = world.http.press("alice", card, "delete_now")
    world.advance(timedelta(minutes=10))

    # validating
    assert "Deleting `broken`" in answer
    assert world.env("broken").state == "DELETED"
    assert not world.backend.exists(env.id)


def test_retry_after_failure_provisions_again(world: World) -> None:
    # setup
    world.backend.fail_next_create("capacity")
    world.create("alice", "sandbox again")
    world.advance(timedelta(minutes=5))
    assert world.env("again").state == "FAILED"

    # execution
    answer = world.http.press("alice", world.card("again"), "retry")
    world.jobs()

    # validating
    assert "Retrying `again`" in answer
    assert world.env("again").state == "PROVISIONING"
    assert "Retrying" in "\n".join(world.thread("again"))


def test_expiry_starts_deletion_in_the_thread(world: World) -> None:
    # setup
    env = _ready(world, "short")

    # execution
    world.advance(timedelta(days=3, minutes=5))

    # validating
    assert world.env("short").state in ("DELETING", "DELETED")
    assert any(t.startswith("Expired") and "deleting" in t for t in world.thread("short"))
    assert any("`short` reached its expiry" in d for d in world.dms("alice"))
    assert ("READY", "DELETING") in [(e.from_state, e.to_state) for e in world.events(env.id)]


def test_double_click_on_delete_now_deletes_once(world: World) -> None:
    # setup
    env = _ready(world, "twice")
    card_or_confirm = world.http.ask("alice", "/env", "delete twice")
    assert "Delete now" in card_or_confirm
    uid = world.slack.user_id("alice")
    (confirm,) = [
        m
        for m in world.slack.visible_messages(uid)
        if m.ephemeral_to == uid and any(b["action_id"] == "delete_now" for b in buttons(m.blocks))
    ]

    # execution
    first = world.http.press("alice", confirm, "delete_now")
    # a second press, not a retry of the first: it carries its own action_ts
    world.clock.set(world.clock.now() + timedelta(seconds=1))
    second = world.http.press("alice", confirm, "delete_now")
    world.advance(timedelta(minutes=10))

    # validating
    assert "Deleting `twice`" in first
    # the confirmation acts once: the second press is told who already pressed it, and when
    assert f"Already done by <@{uid}>" in second
    assert "(Delete now)" in second
    assert world.backend.calls.count(("delete", env.id)) == 1
    wait_for(lambda: world.env("twice").state == "DELETED", what="deleted")


def test_a_transfer_during_a_refresh_is_applied_next_pass(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup: a READY environment whose next create (the extend's refresh) lets a transfer land
    # while it runs
    env = _ready(world, "racing")
    alice, bob = world.slack.user_id("alice"), world.slack.user_id("bob")
    applied: list[str] = []
    create = world.backend.create

    def create_then_transfer(spec: EnvSpec) -> None:
        create(spec)
        applied.append(spec.owner_id)
        if len(applied) == 1:
            world.http.ask("alice", "/env", f"transfer racing <@{bob}|bob>")

    monkeypatch.setattr(world.backend, "create", create_then_transfer)

    # execution: extend (its objects need the new expiry), then the passes that follow
    world.http.ask("alice", "/env", "extend racing")
    for _ in range(4):
        world.advance(timedelta(seconds=30))

    # validating: the extend's refresh did not clear the transfer's; bob's spec went out
    assert applied[0] == alice
    assert applied[-1] == bob, applied
    moved = world.env("racing")
    assert (moved.id, moved.owner_id, moved.needs_refresh) == (env.id, bob, False)
