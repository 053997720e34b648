"""Cluster API object shapes at each provisioning stage, for v1beta1 and v1beta2, as a Cluster,
its MachineDeployment and its KommanderCluster look in `kubectl get -o yaml` at that stage.

Sources the shapes are copied from (values renamed to this test's cluster, counts adapted):
- v1beta1 Cluster, infrastructure ready but control plane not initialized: a real
  `kubectl get cluster -o yaml` (2023-07-18) in verrazzano/kontainer-engine-driver-oke-capi's
  provisioning logger test: `Ready`/`ControlPlaneReady` False "ScalingUp" severity Warning,
  `ControlPlaneInitialized` False "WaitingForControlPlaneProviderInitialized" severity Info,
  `infrastructureReady: true`, `phase: Provisioned`; the same set in an OpenStack ClusterList
  (2023-11-15, kubeadm-based-orchestration-green).
- v1beta1 MachineDeployment: kubernetes-sigs/cluster-api issue #3865 (`replicas: 1,
  updatedReplicas: 1, unavailableReplicas: 1, phase: ScalingUp`) and k0rdent/kcm PR #546
  (`Available` False "WaitingForAvailableMachines", "Minimum availability requires 3 replicas,
  current 0 available").
- v1beta2 MachineDeployment: kubernetes-sigs/cluster-api PR #12410 (`kubectl get md -o json`:
  `Available` False "NotAvailable" "0 available replicas, at least 1 required
  (spec.strategy.rollout.maxUnavailable is 0, spec.replicas is 1)", `RollingOut`,
  `Remediating`, `ScalingDown`, `ScalingUp` with `observedGeneration`); the deprecated counters
  from cluster-api docs/book migrations/v1.10-to-v1.11.md.
- v1beta2 Cluster conditions and reasons: cluster-api api/core/v1beta2 cluster_types.go
  (`ControlPlaneInitialized` "Initialized"/"NotInitialized", `ControlPlaneAvailable`,
  `WorkersAvailable`, `Available`, `RemoteConnectionProbe`), `status.initialization`,
  `status.controlPlane`/`status.workers` counters from the v1.14 CRD.
Each status is written through the status subresource in the integration test, so the fake API
server checks it against the v1.14 CRD schema of its version.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

STAGES = ("pending", "infrastructure", "cp_initialized", "workers_0", "workers_1", "workers_2")
CLUSTER, NAMESPACE, MD_NAME, TOPOLOGY_MD = "dev-1", "sandbox", "dev-1-md-0-x7k2p", "md-0"
WORKERS = 2
T0, T1, T2, T3 = (f"2026-01-05T09:{m:02d}:00Z" for m in (0, 4, 9, 16))


def _v1(type_: str, status: str, reason: str = "", message: str = "", sev: str = "") -> Obj:
    """A v1beta1 condition (no observedGeneration; severity only when False)."""
    cond: Obj = {"type": type_, "status": status, "lastTransitionTime": T1}
    if status != "True":
        cond.update(reason=reason, severity=sev or "Info")
        if message:
            cond["message"] = message
    return cond


def _v2(type_: str, status: str, reason: str, message: str = "", gen: int = 1) -> Obj:
    """A v1beta2 (metav1) condition."""
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": gen,
        "lastTransitionTime": T2,
    }


def _reached(stage: str, at: str) -> bool:
    return STAGES.index(stage) >= STAGES.index(at)


def _available(stage: str) -> int:
    return int(stage[-1]) if stage.startswith("workers_") else 0


def cluster_status(version: str, stage: str, generation: int = 1) -> Obj:
    """The Cluster's `.status` at `stage` (the Ready/Available summary is True from workers_0:
    the v1beta1 summary ignores workers, which is what made READY come too early)."""
    infra, init, cp = (
        _reached(stage, s) for s in ("infrastructure", "cp_initialized", "workers_0")
    )
    scaling = f"Scaling up control plane to 3 replicas (actual {1 if init else 0})"
    if version == "v1beta1":
        conds = [
            _v1("Ready", str(cp), "ScalingUp", scaling, "Warning")
            if infra
            else _v1("Ready", "False", "WaitingForInfrastructure"),
            _v1(
                "ControlPlaneInitialized",
                str(init),
                "WaitingForControlPlaneProviderInitialized",
                "Waiting for control plane provider to indicate the control plane has been "
                "initialized",
            ),
            _v1("ControlPlaneReady", str(cp), "ScalingUp", scaling, "Warning")
            if infra
            else _v1("ControlPlaneReady", "False", "WaitingForControlPlane"),
            _v1("InfrastructureReady", str(infra), "WaitingForInfrastructure"),
        ]
        return {
            "conditions": conds,
            "infrastructureReady": infra,
            "controlPlaneReady": init,  # set once the API server answered, not when all is ready
            "observedGeneration": generation,
            "phase": "Provisioned" if infra else "Provisioning",
        }
    available = _available(stage)
    md_msg = (
        f"* MachineDeployment {MD_NAME}: {available} available replicas, at least {WORKERS} "
        f"required (spec.strategy.rollout.maxUnavailable is 0, spec.replicas is {WORKERS})"
    )
    workers_ok = available >= WORKERS
    conds = [
        _v2("Available", str(cp and workers_ok), "Available" if workers_ok else "NotAvailable"),
        _v2("InfrastructureReady", str(infra), "Ready" if infra else "NotReady", gen=generation),
        _v2("ControlPlaneInitialized", str(init), "Initialized" if init else "NotInitialized"),
        _v2("ControlPlaneAvailable", str(cp), "Available" if cp else "NotAvailable", scaling),
        _v2(
            "WorkersAvailable",
            str(workers_ok),
            "Available" if workers_ok else "NotAvailable",
            md_msg if init and not workers_ok else "",
        ),
        _v2("RemoteConnectionProbe", str(init), "ProbeSucceeded" if init else "ProbeFailed"),
    ]
    for c in conds:
        c["observedGeneration"] = generation
    cp_ready = 3 if cp else (1 if init else 0)
    return {
        "conditions": conds,
        "initialization": {"infrastructureProvisioned": infra, "controlPlaneInitialized": init},
        "controlPlane": {
            "desiredReplicas": 3,
            "replicas": cp_ready,
            "readyReplicas": cp_ready,
            "availableReplicas": cp_ready,
            "upToDateReplicas": cp_ready,
        },
        "workers": {
            "desiredReplicas": WORKERS,
            "replicas": WORKERS if init else 0,
            "readyReplicas": available,
            "availableReplicas": available,
            "upToDateReplicas": WORKERS if init else 0,
        },
        "deprecated": {"v1beta1": {"conditions": [_v1("Ready", str(cp), "ScalingUp", scaling)]}},
        "observedGeneration": generation,
        "phase": "Provisioned" if infra else "Provisioning",
    }


def machine_deployment(version: str, replicas: int = WORKERS, cluster: str = CLUSTER) -> Obj:
    """A topology-generated MachineDeployment (labels as CAPI's topology controller sets them)."""
    labels = {
        "cluster.x-k8s.io/cluster-name": cluster,
        "topology.cluster.x-k8s.io/owned": "",
        "topology.cluster.x-k8s.io/deployment-name": TOPOLOGY_MD,
    }
    if version == "v1beta1":
        bootstrap = {
            "apiVersion": "bootstrap.cluster.x-k8s.io/v1beta1",
            "kind": "KubeadmConfigTemplate",
            "name": f"{cluster}-md-0-bootstrap-9xq4n",
        }
        infra = {
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
            "kind": "AWSMachineTemplate",
            "name": f"{cluster}-md-0-infra-4k8wd",
        }
    else:
        bootstrap = {
            "apiGroup": "bootstrap.cluster.x-k8s.io",
            "kind": "KubeadmConfigTemplate",
            "name": f"{cluster}-md-0-bootstrap-9xq4n",
        }
        infra = {
            "apiGroup": "infrastructure.cluster.x-k8s.io",
            "kind": "AWSMachineTemplate",
            "name": f"{cluster}-md-0-infra-4k8wd",
        }
    return {
        "apiVersion": f"cluster.x-k8s.io/{version}",
        "kind": "MachineDeployment",
        "metadata": {"name": f"{cluster}-md-0-x7k2p", "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "clusterName": cluster,
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "clusterName": cluster,
                    "version": "v1.29.6",
                    "bootstrap": {"configRef": bootstrap},
                    "infrastructureRef": infra,
                },
            },
        },
    }


def md_status(
    version: str, stage: str, replicas: int = WORKERS, generation: int = 1, cluster: str = CLUSTER
) -> Obj:
    """The MachineDeployment's `.status` at `stage` (machines exist from cp_initialized)."""
    made = replicas if _reached(stage, "cp_initialized") else 0
    available = min(_available(stage), replicas)
    selector = (
        f"cluster.x-k8s.io/cluster-name={cluster},"
        f"topology.cluster.x-k8s.io/deployment-name={TOPOLOGY_MD}"
    )
    phase = "Running" if available >= replicas else "ScalingUp"
    if version == "v1beta1":
        ok = available >= replicas
        message = (
            f"Minimum availability requires {replicas} replicas, current {available} available"
        )
        conds = [
            _v1("Ready", str(ok), "WaitingForAvailableMachines", message, "Warning"),
            _v1("Available", str(ok), "WaitingForAvailableMachines", message, "Warning"),
            _v1("MachineSetReady", str(ok), "ScalingUp", "", "Warning"),
        ]
        return {
            "conditions": conds,
            "observedGeneration": generation,
            "selector": selector,
            "replicas": made,
            "updatedReplicas": made,
            "readyReplicas": available,
            "availableReplicas": available,
            "unavailableReplicas": replicas - available,
            "phase": phase,
        }
    ok = available >= replicas
    message = (
        f"{available} available replicas, at least {replicas} required "
        f"(spec.strategy.rollout.maxUnavailable is 0, spec.replicas is {replicas})"
    )
    conds = [
        _v2("Available", str(ok), "Available" if ok else "NotAvailable", "" if ok else message),
        _v2("MachinesReady", str(ok), "Ready" if ok else "NotReady"),
        _v2("MachinesUpToDate", "True", "UpToDate"),
        _v2("RollingOut", "False", "NotRollingOut"),
        _v2("ScalingUp", str(made < replicas), "ScalingUp" if made < replicas else "NotScalingUp"),
        _v2("ScalingDown", "False", "NotScalingDown"),
        _v2("Remediating", "False", "NotRemediating"),
        _v2("Deleting", "False", "NotDeleting"),
        _v2("Paused", "False", "NotPaused"),
    ]
    for c in conds:
        c["observedGeneration"] = generation
    return {
        "conditions": conds,
        "observedGeneration": generation,
        "selector": selector,
        "replicas": made,
        "readyReplicas": available,
        "availableReplicas": available,
        "upToDateReplicas": made,
        "phase": phase,
        "deprecated": {
            "v1beta1": {
                "updatedReplicas": made,
                "readyReplicas": available,
                "availableReplicas": available,
                "unavailableReplicas": replicas - available,
            }
        },
    }


def kommander_status(joined: bool) -> Obj:
    """KommanderCluster `.status` (Kommander 1.4.2 CRD): it joins as soon as the kubeconfig
    works, usually before the workers are up."""
    return {"phase": "Joined" if joined else "Pending"}
