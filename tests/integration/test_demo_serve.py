"""`envbot demo --serve` as a user runs it: a subprocess answering signed requests on loopback.

The request is built and signed here with Slack's algorithm (HMAC-SHA256 of `v0:ts:body`), not
with the project's signing helper; the card is read from what the process prints as the fake
Slack receives it, and the objects from the fake API server with the real `kubernetes` client.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from kubernetes import client as kclient
from kubernetes import config as kconfig

from bot.demo.world import free_port
from tests.scenario.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
ENVBOT = [sys.executable, "-m", "bot.cli"]
START = 180.0  # importing, migrating and starting four servers on a busy 2-core machine


class Served:
    """The process, its stdout lines as they come, and its world file."""

    def __init__(self, proc: subprocess.Popen[str], stderr: Path) -> None:
        self.proc = proc
        self.stderr = stderr
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def join(self) -> None:
        self._reader.join(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def world(self) -> dict[str, Any]:
        line = str(
            wait_for(
                lambda: next((x for x in self.lines if x.strip().startswith("world file")), None),
                START,
                "the world file line",
            )
        )
        world: dict[str, Any] = json.loads(Path(line.split()[-1]).read_text(encoding="utf-8"))
        world["path"] = line.split()[-1]
        return world


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    env = {
        **os.environ,
        # a real installation's settings must not leak in: an app token would mean Socket Mode
        "ENVBOT_SLACK__APP_TOKEN": "xapp-not-for-the-demo",
        "ENVBOT_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none",
    }
    stderr = tmp_path / "stderr"
    command = [*ENVBOT, "demo", "--serve", "--port", str(port), "--policy", "examples/policy.yaml"]
    # stderr goes to a file: a pipe nobody reads could fill up and block the process
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=err, text=True
        )
        served = Served(proc, stderr)
        try:
            yield served
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            served.join()


def _signed(secret: str, body: str, ts: int) -> dict[str, str]:
    base = f"v0:{ts}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def _cluster(kubeconfig: str, name: str) -> dict[str, Any] | None:
    api = kconfig.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    try:
        found = kclient.CustomObjectsApi(api).get_namespaced_custom_object(
            "cluster.x-k8s.io", "v1beta1", "sandbox", "clusters", name
        )
        assert isinstance(found, dict)
        return found
    except kclient.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    finally:
        api.close()


def _namespaces(kubeconfig: str) -> set[str]:
    api = kconfig.new_client_from_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    try:
        items = kclient.CoreV1Api(api).list_namespace().items
        return {str(ns.metadata.name) for ns in items if ns.metadata is not None}
    finally:
        api.close()


def test_signed_env_create_reaches_fake_slack_and_fake_kube_then_sigterm_stops_it(
    served: Served,
) -> None:
    # setup: the world is announced, then serve answers
    world = served.world()
    events = world["events_url"]
    wait_for(lambda: _up(events.replace("/slack/events", "/healthz")), START, "serve to listen")
    # the banner comes before serve has started: the world says when it answers
    wait_for(lambda: f"envbot serve is listening at {events}" in served.text, 10, "ready line")
    assert world["team_id"] in served.text
    assert world["signing_secret"] in served.text

    # a forged signature is refused: the edge checks as `envbot serve` does
    forged = _signed("not-the-secret", "command=%2Fenv&text=help", int(time.time()))
    refused = requests.post(events, data="command=%2Fenv&text=help", headers=forged, timeout=10)
    assert refused.status_code == 401

    # execution: Slack mints a trigger_id and response_url per command; the fake does on request
    minted = requests.post(
        world["slack_api_url"] + "envbot.demo.invocation",
        json={"user": "alice", "channel": "platform"},
        headers={"Authorization": f"Bearer {world['bot_token']}"},
        timeout=10,
    ).json()
    assert minted["ok"], minted
    body = urlencode(
        {
            "token": "unused",
            "team_id": world["team_id"],
            "channel_id": minted["channel_id"],
            "channel_name": "platform",
            "user_id": minted["user_id"],
            "user_name": "alice",
            "command": "/env",
            "text": "create sandbox demo-one",
            "api_app_id": "A0ENVBOT",
            "response_url": minted["response_url"],
            "trigger_id": minted["trigger_id"],
        }
    )
    answer = requests.post(
        events,
        data=body,
        headers=_signed(world["signing_secret"], body, int(time.time())),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text

    # validating: the card in #platform, the Cluster in the API server, and READY once the
    # CAPI/Kommander stand-in has brought it up
    card = "#platform: demo-one: cluster from template `sandbox` in workspace sandbox for @alice"
    wait_for(lambda: card in served.text, 60, "the card")
    cluster = wait_for(lambda: _cluster(world["kubeconfig"], "demo-one"), 60, "the Cluster")
    assert cluster is not None
    assert cluster["metadata"]["namespace"] == "sandbox"
    wait_for(lambda: "State: ready" in served.text, 90, "READY on the card")

    # and `envbot demo send` does the same for another user, found through $ENVBOT_DEMO_WORLD
    sent = subprocess.run(
        [*ENVBOT, "demo", "send", "/env create dev --ttl 2h", "--as", "bob"],
        cwd=ROOT,
        env={**os.environ, "ENVBOT_DEMO_WORLD": world["path"]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    assert "HTTP 200" in sent.stdout
    wait_for(
        lambda: any(n.startswith("dev-bob-") for n in _namespaces(world["kubeconfig"])),
        60,
        "bob's namespace",
    )

    # a button click goes the same way: delete it, confirm, and the Cluster goes
    demo = {**os.environ, "ENVBOT_DEMO_WORLD": world["path"]}
    for line in ("/env delete demo-one", "click delete demo-one"):
        done = subprocess.run(
            [*ENVBOT, "demo", "send", line],
            cwd=ROOT,
            env=demo,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    wait_for(lambda: _cluster(world["kubeconfig"], "demo-one") is None, 90, "the Cluster to go")
    wait_for(lambda: "State: deleted" in served.text, 60, "DELETED on the card")

    # an operator's `envbot doctor` with the world's settings file finds everything in order
    settings = Path(world["path"]).with_name("world.env").read_text(encoding="utf-8")
    variables = dict(line.split("=", 1) for line in settings.splitlines())
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ENVBOT_", "AWS_"))}
    doctor = subprocess.run(
        [*ENVBOT, "doctor"],
        cwd=ROOT,
        env={**clean, **variables},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "clusterclasses" in doctor.stdout

    # stopping: SIGTERM ends it cleanly and the world's directory goes with it
    served.proc.send_signal(signal.SIGTERM)
    assert served.proc.wait(timeout=60) == 0
    wait_for(lambda: "demo world stopped" in served.text, 10, "the goodbye line")
    assert not Path(world["path"]).exists()
    assert "Traceback" not in served.stderr.read_text(encoding="utf-8")


def test_send_without_a_world_says_how_to_get_one() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ENVBOT_DEMO_WORLD"}
    result = subprocess.run(
        [*ENVBOT, "demo", "send", "/env list"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "pass --world FILE or set ENVBOT_DEMO_WORLD" in result.stderr


def test_a_port_in_use_is_one_line_with_what_to_do() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*ENVBOT, "demo", "--serve", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        f"port {port} on 127.0.0.1 is in use: pass --port N (0 picks a free one)"
    )
    assert "Traceback" not in result.stderr
