"""Reads Cluster API status (v1beta1 and v1beta2) into provisioning phases: pure functions over
the objects as the API server returns them, so READY means the cluster can run workloads.

The milestones, in order: infrastructure ready; control plane ready; workers ready (every
MachineDeployment of the cluster has its desired replicas available and up to date); the
KommanderCluster joined. An environment is at the furthest milestone whose predecessors all
hold, so a phase is reported (and posted) only once it and everything before it is reached: a
KommanderCluster that joins before the workers are up (it usually does) is not "Attached" until
the workers are ready, and READY needs all four.

Where each fact lives (Cluster API v1.14 CRDs in shared/crds; `kubectl wait` semantics):
- Conditions: the served version's `status.conditions`, then the other version's copy
  (`status.v1beta2.conditions` in v1beta1, `status.deprecated.v1beta1.conditions` in v1beta2).
  A condition is stale, and does not count, when its `observedGeneration` (or else
  `status.observedGeneration`) is lower than `metadata.generation`.
- Infrastructure: `InfrastructureReady`, or `status.infrastructureReady` (v1beta1) or
  `status.initialization.infrastructureProvisioned` (v1beta2); both flags never go back.
- Control plane: `ControlPlaneReady` (v1beta1; mirrors the KubeadmControlPlane's Ready and goes
  False during a rollout) or `ControlPlaneAvailable` (v1beta2), the served version's first.
  `status.controlPlaneReady` only says the control plane was once initialized, so it is not read.
- Workers: the MachineDeployments labelled `cluster.x-k8s.io/cluster-name=<cluster>` (CAPI's
  MachineDeployment webhook sets it on every MD; the topology controller also sets
  `topology.cluster.x-k8s.io/deployment-name`). Counters: v1beta1 `availableReplicas` and
  `updatedReplicas` (with `status.v1beta2.availableReplicas`/`upToDateReplicas` when present);
  v1beta2 `availableReplicas` and `upToDateReplicas` (with `status.deprecated.v1beta1`'s
  `availableReplicas`/`updatedReplicas` when present). Where both semantics are present, the
  lower count is taken. `spec.replicas` absent means 1 (CAPI's defaulting webhook).
- Zero workers: a topology Cluster whose `spec.topology.workers` lists no MachineDeployment asks
  for none, and its workers are ready with the control plane. Every other cluster needs at least
  one MachineDeployment (a plain Cluster does not say how many it will get), and a topology
  Cluster needs one per listed MachineDeployment. MachinePools are not read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from provisioning.base import Phase

CLUSTER_NAME_LABEL = "cluster.x-k8s.io/cluster-name"
TOPOLOGY_MD_LABEL = "topology.cluster.x-k8s.io/deployment-name"

Obj = Mapping[str, Any]


def _get(obj: Obj | None, *path: str) -> Any:
    node: Any = obj
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _version(obj: Obj) -> str:
    return str(obj.get("apiVersion", "")).rpartition("/")[2]


def _condition_lists(obj: Obj) -> list[Any]:
    """The condition lists of `obj`, its served version's first."""
    native = _get(obj, "status", "conditions")
    if _version(obj) == "v1beta2":
        return [native, _get(obj, "status", "deprecated", "v1beta1", "conditions")]
    return [native, _get(obj, "status", "v1beta2", "conditions")]


def _stale(obj: Obj, observed: Any) -> bool:
    generation = _get(obj, "metadata", "generation")
    if observed is None:
        observed = _get(obj, "status", "observedGeneration")
    return isinstance(generation, int) and isinstance(observed, int) and observed < generation


def condition(obj: Obj | None, *types: str) -> bool | None:
    """True/False for the first condition of `types` found (served version first), None if none
    is there. A stale condition counts as False, as `kubectl wait` treats it."""
    if not obj:
        return None
    for conditions in _condition_lists(obj):
        for wanted in types:
            for cond in conditions or []:
                if isinstance(cond, Mapping) and cond.get("type") == wanted:
                    if _stale(obj, cond.get("observedGeneration")):
                        return False
                    return str(cond.get("status", "")).lower() == "true"
    return None


def infrastructure_ready(cluster: Obj | None) -> bool:
    """The infrastructure (AWSCluster: VPC, load balancer, ...) is provisioned."""
    status = _get(cluster, "status") or {}
    return bool(
        condition(cluster, "InfrastructureReady")
        or status.get("infrastructureReady") is True
        or _get(status, "initialization", "infrastructureProvisioned") is True
    )


def control_plane_ready(cluster: Obj | None) -> bool:
    """The control plane reports ready (v1beta1) or available (v1beta2), and is current."""
    if cluster is not None and _version(cluster) == "v1beta2":
        return condition(cluster, "ControlPlaneAvailable", "ControlPlaneReady") is True
    return condition(cluster, "ControlPlaneReady", "ControlPlaneAvailable") is True


def _counter(md: Obj, *paths: Sequence[str]) -> int:
    """The lowest of the counters present at `paths` (0 when none is)."""
    found = [v for p in paths if isinstance(v := _get(md, *p), int)]
    return min(found) if found else 0


def desired_replicas(md: Obj) -> int:
    replicas = _get(md, "spec", "replicas")
    return replicas if isinstance(replicas, int) else 1


def available_replicas(md: Obj) -> int:
    other = ("deprecated", "v1beta1") if _version(md) == "v1beta2" else ("v1beta2",)
    return _counter(md, ("status", "availableReplicas"), ("status", *other, "availableReplicas"))


def up_to_date_replicas(md: Obj) -> int:
    if _version(md) == "v1beta2":
        paths = [
            ("status", "upToDateReplicas"),
            ("status", "deprecated", "v1beta1", "updatedReplicas"),
        ]
    else:
        paths = [("status", "updatedReplicas"), ("status", "v1beta2", "upToDateReplicas")]
    return _counter(md, *paths)


def machine_deployment_ready(md: Obj) -> bool:
    """Every desired replica is available and up to date, by a status that is current."""
    if _stale(md, None) or _get(md, "status", "phase") == "Failed":
        return False
    if condition(md, "Available") is False:
        return False
    desired = desired_replicas(md)
    return available_replicas(md) >= desired and up_to_date_replicas(md) >= desired


def _topology_deployments(cluster: Obj) -> list[str] | None:
    """The MachineDeployment names a topology Cluster asks for; None for a plain Cluster."""
    topology = _get(cluster, "spec", "topology")
    if not isinstance(topology, Mapping):
        return None
    listed = _get(topology, "workers", "machineDeployments") or []
    return [str(md.get("name")) for md in listed if isinstance(md, Mapping)]


def workers_ready(cluster: Obj | None, mds: Iterable[Obj]) -> bool:
    """Every MachineDeployment of the cluster is ready, and there are the ones it asks for."""
    if cluster is None:
        return False
    live = [md for md in mds if not _get(md, "metadata", "deletionTimestamp")]
    wanted = _topology_deployments(cluster)
    if wanted is None and not live:
        return False
    present = {_get(md, "metadata", "labels", TOPOLOGY_MD_LABEL) for md in live}
    if wanted is not None and not set(wanted) <= present:
        return False
    return all(machine_deployment_ready(md) for md in live)


def attached(kc: Obj | None) -> bool:
    """Kommander has joined the cluster to its workspace."""
    return bool(_get(kc, "status", "phase") == "Joined")


def progress(cluster: Obj | None, kc: Obj | None, mds: Iterable[Obj] = ()) -> Phase:
    """The furthest milestone reached with all the ones before it (READY when all are)."""
    reached = Phase.ACCEPTED
    steps: tuple[tuple[Phase, Callable[[], bool]], ...] = (
        (Phase.INFRASTRUCTURE, lambda: infrastructure_ready(cluster)),
        (Phase.CONTROL_PLANE, lambda: control_plane_ready(cluster)),
        (Phase.WORKERS, lambda: workers_ready(cluster, mds)),
        (Phase.ATTACHED, lambda: attached(kc)),
    )
    for phase, holds in steps:
        if not holds():
            return reached
        reached = phase
    return Phase.READY
