"""Scenario fixtures: fake Slack, the real runtime served on loopback, a signed Slack client."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import pytest
import requests
import yaml
from sqlalchemy import Engine
from waitress.channel import HTTPChannel

from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_limits import RateLimits
from bot.demo.fake_slack_store import Delivery, DeliveryKind, Message, View
from bot.demo.forms import form_values
from bot.demo.signing import event_body, interaction_body, sign, slash_body
from bot.domain.clock import ManualClock
from bot.policy import Policy, load_policy
from bot.server import HttpServer, make_wsgi_app
from bot.settings import JobSettings
from bot.slack.directory import SlackDirectory
from bot.wiring import Runtime, build_runtime
from handlers.actions import ONE_SHOT_BLOCKS
from provisioning.base import AccessBackend, EnvironmentBackend
from provisioning.cloud import CloudCleaner
from provisioning.fake import FakeAccessBackend, FakeEnvironmentBackend

ROOT = Path(__file__).resolve().parents[2]
POLICY_PATH = ROOT / "examples" / "policy.yaml"
SECRET = "scenario-signing-secret"
JOBS = JobSettings(outbox_interval=60, reconcile_interval=60, expiry_interval=60)
DEADLINE = 10.0

T = TypeVar("T")


def example_policy_with(
    where: Path, change: Callable[[dict[str, Any]], None] | None = None
) -> Policy:
    """examples/policy.yaml, changed by `change` (on its parsed YAML) and loaded from `where`,
    beside a copy of its templates (the manifests files are relative to the policy)."""
    data = yaml.safe_load(POLICY_PATH.read_text(encoding="utf-8"))
    if change is not None:
        change(data)
    shutil.copytree(POLICY_PATH.parent / "templates", where / "templates")
    path = where / "policy.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_policy(path)


def wait_for(predicate: Callable[[], T], timeout: float = DEADLINE, what: str = "condition") -> T:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def message_text(text: str, blocks: list[dict[str, Any]]) -> str:
    """Fallback text plus every text in the blocks, for substring assertions."""
    parts = [text]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    parts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(parts)


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every button element in `blocks`, each with its `block_id` added."""
    out = []
    for block in blocks:
        if block.get("type") == "actions":
            for element in block.get("elements", []):
                if element.get("type") == "button":
                    out.append({**element, "block_id": block.get("block_id", "")})
    return out


@dataclass
class SlackClient:
    """Posts slash commands and clicks to the served app, signed as Slack signs them."""

    url: str
    slack: FakeSlack
    clock: ManualClock
    secret: str = SECRET
    cursor: int = field(default=0)
    presses: int = field(default=0)
    # Waits until the requests handed on by the app's listeners were worked (the inbox), so
    # a test reads the state its request made, as it did when the work ran before the ack.
    settle: Callable[[], object] = field(default=lambda: None)

    def post(self, body: str, headers: dict[str, str] | None = None) -> requests.Response:
        """POST a raw body to /slack/events (signed now unless `headers` are given); a slash
        command's ack body is shown to its user as Slack shows it."""
        resp = requests.post(
            f"{self.url}/slack/events",
            data=body.encode(),
            headers=headers if headers is not None else sign(self.secret, body),
            timeout=DEADLINE,
        )
        form = dict(parse_qsl(body)) if resp.status_code == 200 else {}
        if form.get("command") and form.get("channel_id") and form.get("user_id"):
            self.slack.show_ack_body(form["channel_id"], form["user_id"], resp.text)
        self.settle()
        return resp

    def slash_body(self, user: str, command: str, text: str) -> str:
        uid = self.slack.user_id(user)
        channel = self.slack.channel_id("platform")
        return slash_body(
            command,
            text,
            user_id=uid,
            user_name=user,
            channel_id=channel,
            response_url=self.slack.new_response_url(channel, uid),
            trigger_id=self.slack.new_trigger_id(uid),
        )

    def command(self, user: str, command: str, text: str) -> requests.Response:
        """Type `command text` as `user` in #platform; returns the ack."""
        return self.post(self.slash_body(user, command, text))

    def click(
        self, user: str, msg: Message, button: dict[str, Any], action_ts: str | None = None
    ) -> requests.Response:
        """Press `button` on `msg` as `user` (at `action_ts`, default now); returns the ack."""
        uid = self.slack.user_id(user)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "team": {"id": "T0ENVBOT"},
            "user": {"id": uid, "name": user},
            "api_app_id": "A0ENVBOT",
            "trigger_id": self.slack.new_trigger_id(uid),
            "container": {"type": "message", "message_ts": msg.ts, "channel_id": msg.channel},
            "channel": {"id": msg.channel},
            "message": msg.to_api(),
            "response_url": self.slack.new_response_url(msg.channel, uid, msg.ts),
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": button["block_id"],
                    "value": button.get("value", ""),
                    "text": button["text"],
                    "action_ts": action_ts or f"{self.clock.now().timestamp()}",
                }
            ],
        }
        return self.post(interaction_body(payload))

    def submit(self, user: str, view: View, fields: dict[str, str]) -> requests.Response:
        """Submit the open modal `view` as `user` (a signed `view_submission`), with `fields`
        typed over its initial values, as Slack sends them; returns the HTTP response."""
        uid = self.slack.user_id(user)
        values, _ = form_values(view.view.get("blocks", []), fields)
        payload: dict[str, Any] = {
            "type": "view_submission",
            "team": {"id": "T0ENVBOT"},
            "user": {"id": uid, "name": user},
            "api_app_id": "A0ENVBOT",
            "trigger_id": self.slack.new_trigger_id(uid),
            "view": {**view.to_api(), "state": {"values": values}},
        }
        return self.post(interaction_body(payload))

    def event(
        self, event: dict[str, Any], event_id: str, retry_num: int | None = None
    ) -> requests.Response:
        """Deliver a signed Events API `event_callback` (a Slack retry when `retry_num` is set)."""
        body = event_body(event, event_id, int(self.clock.now().timestamp()))
        headers = sign(self.secret, body, content_type="application/json")
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self.post(body, headers)

    def mark(self) -> int:
        """The current end of the delivery feed."""
        _, cursor = self.slack.deliveries_since(0)
        return cursor

    def ephemerals_since(self, cursor: int, user: str) -> list[Delivery]:
        uid = self.slack.user_id(user)
        found, _ = self.slack.deliveries_since(cursor)
        return [d for d in found if d.kind == DeliveryKind.EPHEMERAL and d.user == uid]

    def ask(self, user: str, command: str, text: str) -> str:
        """Run a slash command and wait for the ephemeral answer; returns its text."""
        cursor = self.mark()
        resp = self.command(user, command, text)
        assert resp.status_code == 200, resp.text
        got = wait_for(lambda: self.ephemerals_since(cursor, user), what=f"answer to {text!r}")
        return message_text(got[0].text, got[0].blocks)

    def answers_since(self, cursor: int, user: str, msg: Message) -> list[Delivery]:
        """Ephemerals to `user`, and updates of `msg` in place when it is a one-shot message
        (a reminder or a delete confirmation, whose press replaces it). A card's own updates
        (a decision re-renders it) are not the answer to a press."""
        found, _ = self.slack.deliveries_since(cursor)
        one_shot = any(b.get("block_id") in ONE_SHOT_BLOCKS for b in msg.blocks)
        return [
            d
            for d in found
            if (d.kind == DeliveryKind.EPHEMERAL and d.user == self.slack.user_id(user))
            or (
                one_shot
                and d.kind == DeliveryKind.UPDATE
                and (d.channel, d.ts) == (msg.channel, msg.ts)
            )
        ]

    def press(self, user: str, msg: Message, action_id: str) -> str:
        """Click the button `action_id` on `msg` and wait for the answer: an ephemeral, or
        `msg` replaced in place."""
        (button,) = [b for b in buttons(msg.blocks) if b["action_id"] == action_id]
        cursor = self.mark()
        # A real second press has a new action_ts; the same one is a replay the dedupe drops.
        self.presses += 1
        resp = self.click(user, msg, button, f"{self.clock.now().timestamp()}.{self.presses}")
        assert resp.status_code == 200, resp.text
        got = wait_for(lambda: self.answers_since(cursor, user, msg), what=f"answer to {action_id}")
        return message_text(got[0].text, got[0].blocks)


@pytest.fixture
def policy() -> Policy:
    return load_policy(POLICY_PATH)


@pytest.fixture
def fake_slack(clock: ManualClock) -> Iterator[FakeSlack]:
    # Slack's chat.postMessage limits, on the scenario's clock: the drain must never need a 429
    slack = FakeSlack(now=clock.now, rate_limits=RateLimits()).start()
    yield slack
    slack.stop()
    assert slack.limiter is not None
    refused = slack.limiter.refused
    assert refused == {"channel": 0, "workspace": 0}, f"the drain outran Slack's limits: {refused}"


@pytest.fixture
def env_backend(clock: ManualClock) -> FakeEnvironmentBackend:
    return FakeEnvironmentBackend(clock)


@pytest.fixture
def env_backends(env_backend: FakeEnvironmentBackend) -> dict[str, EnvironmentBackend]:
    return {"fake": env_backend, "capi": env_backend, "namespace": env_backend}


@pytest.fixture
def access_backends() -> dict[str, AccessBackend]:
    fake = FakeAccessBackend()
    return {"fake": fake, "kommander": fake, "rbac": fake}


@pytest.fixture
def cloud() -> CloudCleaner | None:
    """The runtime's cloud cleaner; None is `NoCloud` (a test overrides it with moto's)."""
    return None


RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def make_runtime(
    policy: Policy,
    database_url: str,
    engine: Engine,
    fake_slack: FakeSlack,
    clock: ManualClock,
    env_backends: dict[str, EnvironmentBackend],
    access_backends: dict[str, AccessBackend],
    cloud: CloudCleaner | None,
) -> Iterator[RuntimeFactory]:
    """Builds runtimes on the test database (a second one simulates a restart, with another
    policy or cloud cleaner when given)."""
    built: list[Runtime] = []
    first, first_cloud = policy, cloud

    def make(policy: Policy = first, cloud: CloudCleaner | None = first_cloud) -> Runtime:
        client = fake_slack.web_client()
        runtime = build_runtime(
            policy=policy,
            database_url=database_url,
            client=client,
            directory=SlackDirectory(client, ttl=0),
            signing_secret=SECRET,
            clock=clock,
            env_backends=env_backends,
            access_backends=access_backends,
            cloud=cloud,
            default_channel="#platform",
            job_settings=JOBS,
            process_before_response=False,
        )
        runtime.jobs.start_waking()  # as `envbot serve` does: a decision wakes the apply jobs
        built.append(runtime)
        return runtime

    yield make
    for runtime in built:
        # the listener pool and the wake thread finish first, so no connection outlives the
        # engine; on PostgreSQL the leader holds the jobs' advisory lock on a connection
        runtime.close()


@pytest.fixture
def runtime(make_runtime: RuntimeFactory) -> Runtime:
    return make_runtime()


@pytest.fixture
def server(runtime: Runtime) -> Iterator[HttpServer]:
    srv = HttpServer(make_wsgi_app(runtime.app), "127.0.0.1", 0).start()
    yield srv
    # HttpServer.stop() closes waitress's sockets under its running select loop, which raises
    # EBADF in the server thread if a client connection is still open; wait for those to go.
    channels = srv._server._map
    wait_for(
        lambda: not any(isinstance(c, HTTPChannel) for c in list(channels.values())),
        what="client connections to close",
    )
    srv.stop()


@pytest.fixture
def slack_http(
    server: HttpServer, fake_slack: FakeSlack, clock: ManualClock, runtime: Runtime
) -> SlackClient:
    return SlackClient(
        url=server.url, slack=fake_slack, clock=clock, settle=runtime.app.intake.wait_idle
    )


REQUEST_ID = re.compile(r"Request `(r\w+)`")


class ScenarioClock:
    """Time and request helpers shared by the scenario worlds (they provide the attributes)."""

    http: SlackClient
    runtime: Runtime
    clock: ManualClock

    def jobs(self) -> None:
        """Run the jobs over ten simulated seconds: the drain sends one message/s per channel."""
        self.runtime.jobs.step(self.clock, 10)

    def advance(self, delta: timedelta) -> None:
        self.runtime.jobs.advance(self.clock, delta)

    def skip_to(self, delta: timedelta, then: timedelta = timedelta(minutes=1)) -> None:
        """Jump `delta` ahead (the jobs are level-triggered), then run them over `then`."""
        self.clock.set(self.clock.now() + delta)
        self.advance(then)

    def request(self, user: str, text: str) -> str:
        """`/access request <text>` as `user`; returns the new request's id."""
        answer = self.http.ask(user, "/access", f"request {text}")
        found = REQUEST_ID.search(answer)
        assert found, answer
        self.jobs()
        return found.group(1)
