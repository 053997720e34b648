"""The demo world's CAPI/Kommander stand-in writes what envbot's own reader calls READY, holds a
deleted Cluster with CAPI's finalizer for a while, and then removes it with its workers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.demo.kube.controllers import FINALIZER, CapiStandIn
from provisioning.base import Phase
from provisioning.kube.capi_status import progress
from tests.fakes.kube_client import api_client

CAPI = ("cluster.x-k8s.io", "v1beta1")
KOM = ("kommander.mesosphere.io", "v1beta1")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def kube() -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer() as fake:
        fake.put_object("core", "v1", "namespaces", {"metadata": {"name": "sandbox"}})
        fake.allow_unknown_fields(KOM[0], "kommanderclusters", "spec.clusterRef")
        yield fake


def _create(api: Any, plural: str, body: dict[str, Any], group: tuple[str, str] = CAPI) -> None:
    k8s.CustomObjectsApi(api).create_namespaced_custom_object(*group, "sandbox", plural, body)


def _read(kube: FakeKubeApiServer) -> tuple[Any, Any, list[Any]]:
    cluster = kube.get_object(*CAPI, "clusters", "sandbox", "c1")
    kc = kube.get_object(*KOM, "kommanderclusters", "sandbox", "c1")
    return cluster, kc, kube.objects(*CAPI, "machinedeployments", "sandbox")


def test_a_cluster_comes_up_to_ready_and_goes_after_deletion(kube: FakeKubeApiServer) -> None:
    # setup: what envbot's template makes, through the real client
    api = api_client(kube)
    clock = Clock()
    capi = CapiStandIn(kube, ready_after=3, delete_after=2, clock=clock)
    _create(
        api,
        "clusters",
        {
            "apiVersion": "cluster.x-k8s.io/v1beta1",
            "kind": "Cluster",
            "metadata": {"name": "c1"},
            "spec": {},
        },
    )
    md = {
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "kind": "MachineDeployment",
        "metadata": {"name": "c1-md-0", "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
        "spec": {
            "clusterName": "c1",
            "replicas": 2,
            "selector": {"matchLabels": {}},
            "template": {"spec": {"clusterName": "c1", "bootstrap": {}, "infrastructureRef": {}}},
        },
    }
    _create(api, "machinedeployments", md)
    kc = {
        "apiVersion": "kommander.mesosphere.io/v1beta1",
        "kind": "KommanderCluster",
        "metadata": {"name": "c1"},
        "spec": {"clusterRef": {"capiCluster": {"name": "c1"}}},
    }
    _create(api, "kommanderclusters", kc, KOM)

    # execution + validating: a finalizer first, nothing ready before `ready_after`
    capi.step()
    cluster, kc_now, mds = _read(kube)
    assert cluster["metadata"]["finalizers"] == [FINALIZER]
    clock.now += 2
    capi.step()
    assert progress(*_read(kube)) == Phase.ACCEPTED
    clock.now += 1
    capi.step()
    cluster, kc_now, mds = _read(kube)
    assert progress(cluster, kc_now, mds) == Phase.READY
    assert kc_now["status"]["ingress"]["address"] == "c1.elb.demo.invalid"

    # deletion: the API server keeps it (finalizer) until the stand-in lets it go
    k8s.CustomObjectsApi(api).delete_namespaced_custom_object(*CAPI, "sandbox", "clusters", "c1")
    capi.step()
    deleting = kube.get_object(*CAPI, "clusters", "sandbox", "c1")
    assert deleting is not None
    assert deleting["metadata"]["deletionTimestamp"]
    clock.now += 2
    capi.step()
    assert kube.get_object(*CAPI, "clusters", "sandbox", "c1") is None
    assert kube.objects(*CAPI, "machinedeployments", "sandbox") == []
    # Kommander's object is envbot's to delete, not CAPI's
    assert kube.get_object(*KOM, "kommanderclusters", "sandbox", "c1") is not None
    api.close()


def test_a_topology_cluster_gets_the_machine_deployments_it_asks_for(
    kube: FakeKubeApiServer,
) -> None:
    clock = Clock()
    capi = CapiStandIn(kube, ready_after=0, clock=clock)
    topology = {
        "class": "aws-quick-start",
        "version": "v1.30.5",
        "workers": {"machineDeployments": [{"class": "default", "name": "md-0", "replicas": 3}]},
    }
    cluster = {"metadata": {"name": "c1", "namespace": "sandbox"}, "spec": {"topology": topology}}
    kube.put_object(*CAPI, "clusters", cluster)
    capi.step()  # finalizer
    assert progress(*_read(kube)) == Phase.ACCEPTED
    capi.step()
    cluster_now, kc, mds = _read(kube)
    assert [m["metadata"]["labels"] for m in mds] == [
        {
            "cluster.x-k8s.io/cluster-name": "c1",
            "topology.cluster.x-k8s.io/deployment-name": "md-0",
        }
    ]
    assert mds[0]["status"]["availableReplicas"] == 3
    # workers are up; no KommanderCluster, so it is not attached yet
    assert progress(cluster_now, kc, mds) == Phase.WORKERS
