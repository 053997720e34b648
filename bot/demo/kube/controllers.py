"""Stand-ins for Cluster API, CAPA and Kommander in the demo world, so clusters come and go.

What envbot reads (provisioning.kube.capi_status) is what these write, as the real controllers
do: Cluster API puts its finalizer on every Cluster and marks it InfrastructureReady,
ControlPlaneReady and Ready; the topology controller makes the MachineDeployments a ClusterClass
Cluster asks for; every MachineDeployment gets its replicas available; Kommander joins the
KommanderCluster and publishes the ingress address and CA. A deleted Cluster stays Deleting a
moment, then its MachineDeployments and the Cluster go. Nothing else is created or changed.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.demo.kube.store import ApiError

logger = logging.getLogger(__name__)

CAPI = ("cluster.x-k8s.io", "v1beta1", "clusters")
MDS = ("cluster.x-k8s.io", "v1beta1", "machinedeployments")
KOM = ("kommander.mesosphere.io", "v1beta1", "kommanderclusters")
FINALIZER = "cluster.cluster.x-k8s.io"
CLUSTER_LABEL = "cluster.x-k8s.io/cluster-name"
TOPOLOGY_LABEL = "topology.cluster.x-k8s.io/deployment-name"
Json = dict[str, Any]


class CapiStandIn:
    """Moves every Cluster on, one pass at a time (`step`) or from a thread (`start`)."""

    def __init__(
        self,
        kube: FakeKubeApiServer,
        *,
        ready_after: float = 3.0,
        delete_after: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kube = kube
        self.ready_after = ready_after
        self.delete_after = delete_after
        self.clock = clock
        self._seen: dict[tuple[str, str], float] = {}
        self._deleting_since: dict[tuple[str, str], float] = {}
        self._ca: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, interval: float = 0.5) -> CapiStandIn:
        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.step()
                except Exception:  # a demo controller must not die: log and go on
                    logger.exception("CAPI stand-in pass failed")

        self._thread = threading.Thread(target=loop, name="capi-stand-in", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def step(self) -> None:
        """One pass over every Cluster."""
        now = self.clock()
        for cluster in self.kube.objects(*CAPI):
            meta = cluster["metadata"]
            key = (meta["namespace"], meta["name"])
            since = self._seen.setdefault(key, now)
            try:
                if meta.get("deletionTimestamp"):
                    self._deleting(key, now)
                elif FINALIZER not in (meta.get("finalizers") or []):
                    self.kube.store.mutate(self.kube.resource_type(*CAPI), *key, _add_finalizer)
                elif now - since >= self.ready_after:
                    self._bring_up(cluster)
            except ApiError as exc:  # deleted between the list and the write
                logger.debug("CAPI stand-in: %s/%s: %s", *key, exc)

    def _deleting(self, key: tuple[str, str], now: float) -> None:
        started = self._deleting_since.setdefault(key, now)
        if now - started < self.delete_after:
            return
        namespace, name = key
        for md in self._machine_deployments(namespace, name):
            self.kube.delete_object(*MDS, namespace, md["metadata"]["name"])
        self.kube.delete_object(*CAPI, namespace, name, force=True)
        self._seen.pop(key, None)
        self._deleting_since.pop(key, None)

    def _bring_up(self, cluster: Json) -> None:
        namespace, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
        conditions = {c.get("type"): c.get("status") for c in _conditions(cluster)}
        for type_ in ("InfrastructureReady", "ControlPlaneReady", "Ready"):
            if conditions.get(type_) != "True":
                self.kube.set_condition(*CAPI, namespace, name, type_, "True")
        topology = (cluster.get("spec") or {}).get("topology") or {}
        for wanted in (topology.get("workers") or {}).get("machineDeployments") or []:
            self._ensure_topology_md(namespace, name, wanted)
        for md in self._machine_deployments(namespace, name):
            replicas = (md.get("spec") or {}).get("replicas", 1)
            if (md.get("status") or {}).get("availableReplicas") != replicas:
                status = _md_status(name, md, replicas)
                self.kube.set_status(*MDS, namespace, md["metadata"]["name"], status)
        kc = self.kube.get_object(*KOM, namespace, name)
        if kc is not None and (kc.get("status") or {}).get("phase") != "Joined":
            ingress = {"address": f"{name}.elb.demo.invalid", "caBundle": self._ca_bundle()}
            self.kube.set_status(*KOM, namespace, name, {"phase": "Joined", "ingress": ingress})

    def _ensure_topology_md(self, namespace: str, cluster: str, wanted: Json) -> None:
        md_name = f"{cluster}-{wanted.get('name', 'md')}"
        if self.kube.get_object(*MDS, namespace, md_name) is not None:
            return
        labels = {CLUSTER_LABEL: cluster, TOPOLOGY_LABEL: str(wanted.get("name", ""))}
        md = {
            "kind": "MachineDeployment",
            "metadata": {"name": md_name, "namespace": namespace, "labels": labels},
            "spec": {"clusterName": cluster, "replicas": wanted.get("replicas", 1)},
        }
        self.kube.put_object(*MDS, md)

    def _machine_deployments(self, namespace: str, cluster: str) -> list[Json]:
        return [
            md
            for md in self.kube.objects(*MDS, namespace)
            if (md["metadata"].get("labels") or {}).get(CLUSTER_LABEL) == cluster
            or (md.get("spec") or {}).get("clusterName") == cluster
        ]

    def _ca_bundle(self) -> str:
        if self._ca is None:
            from bot.demo.kube.tls import self_signed_certificate

            self._ca = base64.b64encode(self_signed_certificate()[0]).decode()
        return self._ca


def _conditions(obj: Json) -> list[Json]:
    return list((obj.get("status") or {}).get("conditions") or [])


def _md_status(cluster: str, md: Json, replicas: int) -> Json:
    """A v1beta1 MachineDeployment's status with every replica available and up to date."""
    ready = [
        {"type": t, "status": "True", "lastTransitionTime": _now()}
        for t in ("Ready", "Available", "MachineSetReady")
    ]
    return {
        "conditions": ready,
        "observedGeneration": md["metadata"].get("generation", 1),
        "selector": f"{CLUSTER_LABEL}={cluster}",
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "unavailableReplicas": 0,
        "phase": "Running",
    }


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _add_finalizer(obj: Json) -> None:
    obj["metadata"].setdefault("finalizers", []).append(FINALIZER)
