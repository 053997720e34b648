"""A reconcile job against the fake Kubernetes API server, for the P4 tests and bench/reconcile.py:
N namespace environments (`dev` template) created through the service, the real `kubernetes`
client, and counters of the API requests and of the environment rows a pass loads."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment
from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.demo.kube.http import RecordedRequest
from bot.domain.clock import ManualClock
from bot.domain.commands import Actor, parse_command
from bot.environments.reconcile import EnvironmentReconciler
from bot.environments.service import EnvironmentService
from bot.lifecycle.context import Context
from bot.lifecycle.inflight import InFlight
from bot.policy import Policy, load_policy
from bot.policy.models import Quota
from bot.slack.notify import Notifier
from provisioning.base import EnvironmentBackend
from provisioning.kube.client import KubeClients
from provisioning.kube.namespace import NamespaceBackend
from tests.fakes.static_directory import NoViews
from tests.integration.test_access_race import Directory

POLICY_PATH = Path(__file__).resolve().parents[1] / "examples" / "policy.yaml"
INSTALL = "inst-p4"


def unlimited_policy() -> Policy:
    """The example policy with the `dev` (namespace) template open to anyone, any number."""
    example = load_policy(POLICY_PATH)
    dev = example.templates["dev"].model_copy(update={"quota": Quota(), "allowed": []})
    return example.model_copy(update={"templates": {**example.templates, "dev": dev}})


@dataclass
class Loaded:
    """The environment rows built from the database during one `measuring` block."""

    rows: list[tuple[str, str]] = field(default_factory=list)  # (id, state) as loaded

    @property
    def count(self) -> int:
        return len(self.rows)


class LoadCounter:
    """Counts the Environment rows the ORM loads (its `load` event) while measuring."""

    def __init__(self) -> None:
        self._current: Loaded | None = None

    def __call__(self, target: Environment, context: object) -> None:
        if self._current is not None:
            self._current.rows.append((target.id, target.state))

    @contextlib.contextmanager
    def measuring(self) -> Iterator[Loaded]:
        self._current = loaded = Loaded()
        try:
            yield loaded
        finally:
            self._current = None


@dataclass
class World:
    """One reconciler on the fake API server (the `shared-dev` cluster's context)."""

    fake: FakeKubeApiServer | None  # None when the server is another process's (the bench)
    clients: KubeClients
    sessions: sessionmaker[Session]
    clock: ManualClock
    service: EnvironmentService
    reconciler: EnvironmentReconciler
    backend: EnvironmentBackend
    loads: LoadCounter
    made: int = 0
    prefix: str = "p4"  # of the environments' names (worlds sharing one API server differ)

    def add(self, n: int) -> list[str]:
        """Create `n` more `dev` environments (each its own owner); their ids."""
        start, self.made = self.made, self.made + n
        for i in range(start, start + n):
            self.service.create(
                parse_command("env", f"create dev {self.prefix}-{i:04d}"), Actor(f"U{i:05d}")
            )
        with self.sessions() as s:
            names = [f"{self.prefix}-{i:04d}" for i in range(start, start + n)]
            return list(s.scalars(select(Environment.id).where(Environment.name.in_(names))))

    @property
    def api(self) -> FakeKubeApiServer:
        """The in-process fake API server."""
        if self.fake is None:
            raise RuntimeError("the fake API server runs in another process")
        return self.fake

    def requests(self) -> list[RecordedRequest]:
        """The resource requests the fake saw (not health checks)."""
        return [r for r in self.api.requests if not r.path.startswith(("/healthz", "/version"))]

    def states(self) -> dict[str, int]:
        """How many environments are in each state."""
        with self.sessions() as s:
            rows = s.execute(select(Environment.state, func.count()).group_by(Environment.state))
            return {state: count for state, count in rows.all()}

    def tick(self) -> None:
        """One reconcile pass, then wait for the calls it handed over (as the stepped runner)."""
        self.reconciler.reconcile()
        self.reconciler.settle()


@contextlib.contextmanager
def world(
    sessions: sessionmaker[Session],
    clock: ManualClock,
    tmp: Path,
    *,
    concurrency: int = 0,
    kubeconfig: Path | None = None,
    wrap: type | None = None,
    prefix: str = "p4",
) -> Iterator[World]:
    """A `World` on an in-process fake API server, or on the one `kubeconfig` names (its
    `shared-dev` context); `wrap(backend)` may stand around the namespace backend."""
    with contextlib.ExitStack() as stack:
        kube: FakeKubeApiServer | None = None
        config = kubeconfig
        if config is None:
            kube = stack.enter_context(FakeKubeApiServer())
            config = kube.write_kubeconfig(tmp / "kubeconfig", "mgmt", ["shared-dev"])
        clients = KubeClients(str(config), "mgmt", {"shared-dev": "shared-dev"})
        stack.callback(clients.close)
        policy = unlimited_policy()
        ctx = Context(policy, clock, sessions, Directory(), Notifier(), install_id=INSTALL)
        backend: EnvironmentBackend = NamespaceBackend(clients)
        if wrap is not None:
            backend = wrap(backend)
        reconciler = EnvironmentReconciler(ctx, {"namespace": backend}, calls=InFlight(concurrency))
        stack.callback(reconciler.close)
        loads = LoadCounter()
        event.listen(Environment, "load", loads)
        stack.callback(event.remove, Environment, "load", loads)
        service = EnvironmentService(ctx, "#platform", NoViews())
        yield World(
            kube, clients, sessions, clock, service, reconciler, backend, loads, prefix=prefix
        )
