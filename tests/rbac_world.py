"""The world the RBAC coverage flows run in (tests/rbac_flows.py): the fake API servers, the
clients, and helpers for objects other actors (CAPI, Kommander, an operator) put there, which
bypass RBAC; everything envbot does goes through the backends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.demo.kube.apiserver import FakeKubeApiServer
from provisioning.kube import labels as lbl
from provisioning.kube.client import KubeClients, Resource

MANAGEMENT, TARGET = "management", "target"
ROOT = Path(__file__).resolve().parents[1]
CAPI = "cluster.x-k8s.io"
FINALIZER = "cluster.cluster.x-k8s.io"  # Cluster API's, on every Cluster


@dataclass
class World:
    """The servers a flow runs against; `clients` reaches the target as cluster `shared`."""

    servers: dict[str, FakeKubeApiServer]
    clients: KubeClients
    kubeconfig: str  # contexts `fake` (management) and `shared-dev` (target)
    tmp: Path

    @property
    def management(self) -> FakeKubeApiServer:
        return self.servers[MANAGEMENT]

    @property
    def target(self) -> FakeKubeApiServer:
        return self.servers[TARGET]


@dataclass(frozen=True)
class Flow:
    name: str
    clusters: tuple[str, ...]
    run: Callable[[World], None]


def put(server: FakeKubeApiServer, res: Resource, obj: dict[str, Any]) -> None:
    server.put_object(res.group, res.version, res.plural, obj)


def stored(server: FakeKubeApiServer, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    found = server.get_object(
        res.group, res.version, res.plural, meta.get("namespace"), meta["name"]
    )
    assert found is not None, f"{res.kind} {meta['name']} is not there"
    return found


def legacy(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` as envbot wrote it before install ids: no install-id label."""
    labels = {k: v for k, v in obj["metadata"]["labels"].items() if k != lbl.INSTALL_ID}
    return {**obj, "metadata": {**obj["metadata"], "labels": labels}}


def install_id(server: FakeKubeApiServer, res: Resource, obj: dict[str, Any]) -> str | None:
    labels: dict[str, str] = stored(server, res, obj)["metadata"].get("labels") or {}
    return labels.get(lbl.INSTALL_ID)
