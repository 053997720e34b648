"""capi_status over Cluster API objects at each provisioning stage, in v1beta1 and v1beta2: READY
only once the control plane is ready, every MachineDeployment has its replicas available, and the
KommanderCluster joined; stale or contradicting status never counts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from provisioning.base import Phase
from provisioning.kube import capi_status as cs
from tests import capi_stages as st

VERSIONS = ("v1beta1", "v1beta2")
EXPECTED = {
    "pending": Phase.ACCEPTED,
    "infrastructure": Phase.INFRASTRUCTURE,
    "cp_initialized": Phase.INFRASTRUCTURE,  # initialized is not ready: 1 of 3 machines
    "workers_0": Phase.CONTROL_PLANE,
    "workers_1": Phase.CONTROL_PLANE,
    "workers_2": Phase.WORKERS,
}


def cluster(version: str, stage: str, *, topology: bool = True, generation: int = 1) -> Any:
    spec: dict[str, Any] = {"controlPlaneRef": {"name": "dev-1-control-plane"}}
    if topology:
        md = {"class": "default-worker", "name": st.TOPOLOGY_MD, "replicas": st.WORKERS}
        spec = {"topology": {"workers": {"machineDeployments": [md]}}}
    return {
        "apiVersion": f"cluster.x-k8s.io/{version}",
        "kind": "Cluster",
        "metadata": {"name": st.CLUSTER, "generation": generation},
        "spec": spec,
        "status": st.cluster_status(version, stage),
    }


def md(version: str, stage: str, **status_changes: Any) -> Any:
    obj = st.machine_deployment(version)
    obj["metadata"]["generation"] = 1
    obj["status"] = {**st.md_status(version, stage), **status_changes}
    return obj


def kc(joined: bool) -> Any:
    return {"status": st.kommander_status(joined)}


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("stage", st.STAGES)
def test_each_stage_reads_as_its_phase(version: str, stage: str) -> None:
    mds = [md(version, stage)] if cs.infrastructure_ready(cluster(version, stage)) else []
    assert cs.progress(cluster(version, stage), kc(False), mds) is EXPECTED[stage]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("stage", st.STAGES)
def test_joined_kommander_cluster_is_ready_only_with_all_workers(version: str, stage: str) -> None:
    phase = cs.progress(cluster(version, stage), kc(True), [md(version, stage)])
    assert (phase is Phase.READY) == (stage == "workers_2")
    assert phase is not Phase.ATTACHED  # joined before the workers is not reported as Attached


@pytest.mark.parametrize("version", VERSIONS)
def test_the_summary_condition_alone_is_not_workers(version: str) -> None:
    # The issue's bug: Ready (v1beta1) / Available (v1beta2) True with no MachineDeployment.
    ready = cluster(version, "workers_2", topology=False)
    assert cs.progress(ready, kc(True), []) is Phase.CONTROL_PLANE


@pytest.mark.parametrize("version", VERSIONS)
def test_a_missing_topology_machine_deployment_is_waited_for(version: str) -> None:
    other = md(version, "workers_2")
    other["metadata"]["labels"][cs.TOPOLOGY_MD_LABEL] = "md-1"
    assert not cs.workers_ready(cluster(version, "workers_2"), [other])


@pytest.mark.parametrize("version", VERSIONS)
def test_a_topology_with_no_workers_is_ready_with_the_control_plane(version: str) -> None:
    c = cluster(version, "workers_0")
    c["spec"]["topology"]["workers"] = {}
    assert cs.progress(c, kc(True), []) is Phase.READY


@pytest.mark.parametrize("version", VERSIONS)
def test_stale_status_does_not_count(version: str) -> None:
    # metadata.generation moved on (someone scaled it): the counters describe the old spec.
    stale = md(version, "workers_2")
    stale["metadata"]["generation"] = 2
    assert not cs.machine_deployment_ready(stale)
    c = cluster(version, "workers_2", generation=2)
    assert not cs.control_plane_ready(c)


@pytest.mark.parametrize("version", VERSIONS)
def test_scaled_up_spec_waits_for_the_new_replicas(version: str) -> None:
    obj = md(version, "workers_2")
    obj["spec"]["replicas"] = 3
    assert not cs.machine_deployment_ready(obj)


def test_v1beta2_available_condition_with_max_unavailable_is_not_enough() -> None:
    # maxUnavailable 1: Available is True at 1 of 2, but the counters say one worker is missing.
    obj = md("v1beta2", "workers_1")
    obj["status"]["conditions"][0].update(status="True", reason="Available", message="")
    assert not cs.machine_deployment_ready(obj)


def test_v1beta1_read_of_a_new_server_takes_the_lower_of_both_counters() -> None:
    # CAPI 1.9/1.10 serve v1beta1 with status.v1beta2 (new semantics) alongside the old counters.
    obj = md("v1beta1", "workers_2", v1beta2={"availableReplicas": 1, "upToDateReplicas": 2})
    assert cs.available_replicas(obj) == 1
    assert not cs.machine_deployment_ready(obj)
    obj["status"]["v1beta2"]["availableReplicas"] = 2
    assert cs.machine_deployment_ready(obj)


def test_v1beta2_reads_its_own_counter_names() -> None:
    obj = md("v1beta2", "workers_2")
    assert (cs.available_replicas(obj), cs.up_to_date_replicas(obj)) == (2, 2)
    obj["status"]["upToDateReplicas"] = 1  # a rollout: one machine still on the old template
    assert not cs.machine_deployment_ready(obj)
    del obj["status"]["deprecated"]
    obj["status"]["upToDateReplicas"] = 2
    assert cs.machine_deployment_ready(obj)


def test_a_failed_or_deleting_machine_deployment() -> None:
    failed = md("v1beta1", "workers_2", phase="Failed")
    assert not cs.machine_deployment_ready(failed)
    going = md("v1beta1", "workers_0")
    going["metadata"]["deletionTimestamp"] = "2026-01-05T09:20:00Z"
    assert cs.workers_ready(cluster("v1beta1", "workers_2"), [md("v1beta1", "workers_2"), going])


def test_control_plane_ready_flag_alone_is_only_initialized() -> None:
    c = cluster("v1beta1", "cp_initialized")
    assert c["status"]["controlPlaneReady"] is True
    assert not cs.control_plane_ready(c)


@pytest.mark.parametrize("version", VERSIONS)
def test_control_plane_going_back_during_a_rollout(version: str) -> None:
    c = cluster(version, "workers_2")
    rollout = copy.deepcopy(c)
    native = "ControlPlaneReady" if version == "v1beta1" else "ControlPlaneAvailable"
    for cond in rollout["status"]["conditions"]:
        if cond["type"] == native:
            cond["status"] = "False"
    assert cs.progress(rollout, kc(True), [md(version, "workers_2")]) is Phase.INFRASTRUCTURE


def test_served_version_conditions_come_first() -> None:
    # v1beta1 read with status.v1beta2: ControlPlaneReady decides when both are there.
    c = cluster("v1beta1", "workers_2")
    c["status"]["v1beta2"] = {
        "conditions": [
            {
                "type": "ControlPlaneAvailable",
                "status": "False",
                "reason": "NotAvailable",
                "message": "",
                "lastTransitionTime": st.T3,
            }
        ]
    }
    assert cs.control_plane_ready(c)
    del c["status"]["conditions"][2]  # no ControlPlaneReady: the v1beta2 copy is read
    assert not cs.control_plane_ready(c)
