"""`envbot demo --serve`: a local world (fake Slack, fake Kubernetes) for the real `envbot serve`.

The world starts the fake Slack Web API and the fake Kubernetes API server on loopback, a
stand-in for Cluster API and Kommander, writes a kubeconfig and a SQLite path into a temporary
directory, and points `envbot serve` at them through its ordinary `ENVBOT_*` settings, so what
runs is exactly the serve code path (signature checks, Bolt, the job runner). What the bot makes
users see is printed as it arrives. `world.json` says how to reach it (`envbot demo send`).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from bot.demo.fake_slack_workspace import CHANNEL_IDS, TEAM_ID, USER_IDS
from bot.demo.feed import FeedPrinter
from bot.demo.invocation import WorldSlack
from bot.policy import Policy

MANAGEMENT_CONTEXT = "mgmt"
PREFIX = "ENVBOT_"
AWS_REGION = "us-west-2"
# Every AWS_* setting of the shell is dropped: a real one would send the demo's calls to an account.
AWS_PREFIX = "AWS_"


class WorldError(Exception):
    """The world cannot start; the message says what to do."""


def _check_port(port: int) -> None:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise WorldError(
                f"port {port} on 127.0.0.1 is in use: pass --port N (0 picks a free one)"
            ) from None


def free_port() -> int:
    """A port nothing listens on now (the server binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class World:
    """Start with `with World(...) as world:`; inside, `envbot serve` finds everything."""

    def __init__(
        self,
        policy: Policy,
        policy_path: Path,
        out: TextIO,
        *,
        port: int = 0,
        keep_db: Path | None = None,
        crds: Path | str | None = "auto",
    ) -> None:
        self.policy = policy
        self.policy_path = policy_path.resolve()
        self.out = out
        self.port = port or free_port()
        self.keep_db = keep_db
        self.crds = crds
        self.secret = secrets.token_hex(16)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.dir = Path()  # the world's temporary directory, once started
        self._saved_env: dict[str, str] = {}
        self._env_set = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._closers: list[Any] = []

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    @property
    def database_url(self) -> str:
        path = self.keep_db.resolve() if self.keep_db else self.dir / "envbot.db"
        return f"sqlite:///{path}"

    def __enter__(self) -> World:
        _check_port(self.port)
        if isinstance(self.crds, Path) and not self.crds.is_dir():
            raise WorldError(f"--crds {self.crds} is not a directory of CRD files")
        if self.keep_db is not None and not self.keep_db.resolve().parent.is_dir():
            raise WorldError(f"--keep-db {self.keep_db}: its directory does not exist")
        self._tmp = tempfile.TemporaryDirectory(prefix="envbot-world-")
        self.dir = Path(self._tmp.name)
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        try:
            from bot.demo.kube.apiserver import FakeKubeApiServer
            from bot.demo.kube.controllers import CapiStandIn
        except ModuleNotFoundError as exc:
            raise WorldError(
                f"the local world needs {exc.name}: pip install 'envbot[demo]'"
            ) from None
        # Slack stamps a message's ts with its own wall time; the real `serve` runs on wall
        # time too, and looks a crashed send up in history from that time on.
        self.slack = WorldSlack(now=lambda: datetime.now(UTC)).start()
        self._closers.append(self.slack.stop)
        crd_dir: Any = self.crds
        # TLS, so that kubectl sends the token too (it never does over plain HTTP)
        self.kube = FakeKubeApiServer(crd_dir=crd_dir, tls=True).start()
        self._closers.append(self.kube.stop)
        # DKP 2.x's KommanderCluster has spec.clusterRef.capiCluster; the 1.4.2 CRD does not
        self.kube.allow_unknown_fields(
            "kommander.mesosphere.io", "kommanderclusters", "spec.clusterRef"
        )
        self._seed_namespaces()
        self._seed_clusterclasses()
        self.kubeconfig = self._write_kubeconfig()
        self.capi = CapiStandIn(self.kube).start()
        self._closers.append(self.capi.stop)
        self.aws_url = self._start_aws()
        self._set_env()
        self.world_file = self._write_world_file()
        self.env_file = self._write_env_file()
        self._follow_slack()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        for close in reversed(self._closers):
            close()
        self._closers.clear()
        if self._env_set:
            for key in [k for k in os.environ if k.startswith((PREFIX, AWS_PREFIX))]:
                del os.environ[key]
            os.environ.update(self._saved_env)
        if self._tmp is not None:
            self._tmp.cleanup()

    # -- setup ------------------------------------------------------------------------------

    def _seed_namespaces(self) -> None:
        """The workspaces' namespaces exist, as they do on a DKP management cluster."""
        for workspace in self.policy.workspaces.values():
            name = workspace.namespace
            if not name or self.kube.get_object("core", "v1", "namespaces", None, name):
                continue
            namespace = {"kind": "Namespace", "metadata": {"name": name}}
            self.kube.put_object("core", "v1", "namespaces", namespace)

    def _seed_clusterclasses(self) -> None:
        """Each topology template's ClusterClass, as the platform team installs it: CAPA's
        quick-start class, declaring the template's tags variable and any other it passes."""
        from bot.demo.kube.capi import TAGS_VARIABLE, clusterclass, quick_start_variables
        from bot.policy.clusters import TopologyCluster

        for template in self.policy.templates.values():
            if not isinstance(template.cluster, TopologyCluster):
                continue
            topology = template.cluster.topology
            namespace = self.policy.workspaces[template.workspace].namespace
            variables = quick_start_variables()
            if topology.tags_variable:
                variables.append({**TAGS_VARIABLE, "name": topology.tags_variable})
            declared = {v["name"] for v in variables}
            variables += [
                {"name": name, "required": False, "schema": {"openAPIV3Schema": {}}}
                for name in topology.variables
                if name not in declared
            ]
            if namespace and not self.kube.get_object(
                "cluster.x-k8s.io", "v1beta1", "clusterclasses", namespace, topology.class_
            ):
                made = clusterclass(topology.class_, namespace, variables)
                self.kube.put_object("cluster.x-k8s.io", "v1beta1", "clusterclasses", made)

    def _write_kubeconfig(self) -> Path:
        """One server, one context per name the policy uses (the management one first)."""
        contexts = sorted({c.context for c in self.policy.clusters.values()})
        return self.kube.write_kubeconfig(self.dir / "kubeconfig", MANAGEMENT_CONTEXT, contexts)

    def _start_aws(self) -> str | None:
        """moto's server on loopback when moto is installed (envbot[demo]); None without."""
        try:
            from moto.server import ThreadedMotoServer
        except ImportError:
            return None
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
        server.start()
        self._closers.append(server.stop)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request log
        host, port = server.get_host_and_port()
        return f"http://{host}:{port}"

    def aws_env(self) -> dict[str, str]:
        """boto3 talks to moto (AWS_ENDPOINT_URL) with throwaway keys, or nowhere."""
        endpoint = self.aws_url or "http://127.0.0.1:9"  # discard port: refused at once
        return {
            "AWS_ACCESS_KEY_ID": "demo",
            "AWS_SECRET_ACCESS_KEY": "demo",  # moto accepts any key
            "AWS_DEFAULT_REGION": AWS_REGION,
            "AWS_CONFIG_FILE": str(self.dir / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.dir / "aws-credentials"),
            "AWS_ENDPOINT_URL": endpoint,
        }

    def settings_env(self) -> dict[str, str]:
        """The `ENVBOT_*` variables `envbot serve` reads, all pointing into this world."""
        return {
            "ENVBOT_SLACK__BOT_TOKEN": self.slack.token,
            "ENVBOT_SLACK__SIGNING_SECRET": self.secret,
            "ENVBOT_SLACK__API_URL": self.slack.api_url,
            "ENVBOT_SLACK__TEAM_ID": TEAM_ID,
            "ENVBOT_DATABASE_URL": self.database_url,
            "ENVBOT_POLICY_FILE": str(self.policy_path),
            "ENVBOT_KUBECONFIG": str(self.kubeconfig),
            "ENVBOT_KUBE_CONTEXT": MANAGEMENT_CONTEXT,
            "ENVBOT_HTTP_HOST": "127.0.0.1",
            "ENVBOT_HTTP_PORT": str(self.port),
            "ENVBOT_JOBS__RECONCILE_INTERVAL": "5",
            "ENVBOT_JOBS__OUTBOX_INTERVAL": "1",
            "ENVBOT_JOBS__EXPIRY_INTERVAL": "10",
            "ENVBOT_JOBS__REMINDER_INTERVAL": "10",
        }

    def _set_env(self) -> None:
        """Replace every `ENVBOT_*` variable: nothing of a real installation leaks in."""
        self._saved_env = {
            k: v for k, v in os.environ.items() if k.startswith((PREFIX, AWS_PREFIX))
        }
        for key in self._saved_env:
            del os.environ[key]
        self._env_set = True
        os.environ.update(self.settings_env())
        os.environ.update(self.aws_env())

    def _write_env_file(self) -> Path:
        """`world.env`: the same settings for `envbot doctor` (or any command) in a shell."""
        path = self.dir / "world.env"
        variables = {**self.settings_env(), **self.aws_env()}
        path.write_text("".join(f"{k}={v}\n" for k, v in variables.items()), encoding="utf-8")
        return path

    def _write_world_file(self) -> Path:
        path = self.dir / "world.json"
        world = {
            "events_url": self.events_url,
            "signing_secret": self.secret,
            "team_id": TEAM_ID,
            "slack_api_url": self.slack.api_url,
            "bot_token": self.slack.token,
            "kubeconfig": str(self.kubeconfig),
            "kube_api_url": self.kube.url,
            "aws_endpoint_url": self.aws_url,
            "database_url": self.database_url,
        }
        path.write_text(json.dumps(world, indent=2), encoding="utf-8")
        return path

    # -- output -----------------------------------------------------------------------------

    def _follow_slack(self) -> None:
        printer = FeedPrinter(self.slack, self._name)

        def follow() -> None:
            cursor = 0
            while not self._stop.wait(0.2):
                deliveries, cursor = self.slack.deliveries_since(cursor)
                for text in printer.lines(deliveries):
                    self.out.write(text + "\n")
                self.out.flush()

        thread = threading.Thread(target=follow, name="world-slack-feed", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _name(self, user_id: str) -> str:
        try:
            return self.slack.user(user_id).name
        except KeyError:
            return user_id

    def announce(self) -> None:
        """What to paste to talk to the bot, printed before it starts serving."""
        users = ", ".join(f"@{n} ({i})" for n, i in USER_IDS.items())
        channels = ", ".join(f"#{n} ({i})" for n, i in CHANNEL_IDS.items())
        crds = self.kube.crd_dir or "none found: built-in kinds, required fields only"
        lines = [
            "envbot demo --serve: the real `envbot serve` on a local world",
            f"  Slack events URL  {self.events_url}",
            f"  signing secret    {self.secret}",
            f"  team id           {TEAM_ID}",
            f"  fake Slack API    {self.slack.api_url}  (bot token {self.slack.token})",
            f"  Kubernetes API    {self.kube.url}  (CRD schemas: {crds})",
            f"  kubeconfig        {self.kubeconfig}  (context {MANAGEMENT_CONTEXT})",
            f"  AWS (moto)        {self.aws_url or 'not installed: pip install envbot[demo]'}",
            f"  database          {self.database_url}",
            f"  users             {users}",
            f"  channels          {channels}",
            f"  world file        {self.world_file}",
            f"  settings          {self.env_file}  (set -a; . it; set +a; envbot doctor)",
            "",
            "Once `envbot serve` says it is listening, send a signed slash command from another",
            "terminal:",
            f"  export ENVBOT_DEMO_WORLD={self.world_file}",
            "  envbot demo send '/env create sandbox' --as alice",
            f"  kubectl --kubeconfig {self.kubeconfig} get clusters.cluster.x-k8s.io -A",
            "or sign your own request: X-Slack-Signature = v0= + hex HMAC-SHA256(secret,",
            '"v0:" + X-Slack-Request-Timestamp + ":" + body). Messages the bot posts appear',
            "below as they arrive. Ctrl-C stops everything.",
            "",
        ]
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        # serve migrates and wires itself after this banner (seconds on a busy machine): say
        # when it answers, so nobody's first command meets a refused connection
        thread = threading.Thread(target=self._say_when_listening, name="world-ready", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _say_when_listening(self, timeout: float = 600.0) -> None:
        health = self.events_url.replace("/slack/events", "/healthz")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                with urllib.request.urlopen(health, timeout=2) as answer:  # noqa: S310 - loopback
                    if answer.status == 200:
                        self.out.write(f"envbot serve is listening at {self.events_url}\n")
                        self.out.flush()
                        return
            except OSError:  # refused while serve starts; urllib's URLError is an OSError
                pass
            self._stop.wait(0.2)
