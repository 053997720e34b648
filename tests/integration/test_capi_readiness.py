"""READY means ready, through the real `kubernetes` client against the fake API server: the
Cluster, its MachineDeployment and the KommanderCluster get the status of each provisioning stage
through the status subresource (checked against the v1.14 CRD schema of the served version), and
the capi backend never observes READY before the workers are available."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes import client as k8s

from bot.demo.kube.apiserver import DEFAULT_CRD_DIR, FakeKubeApiServer
from bot.demo.kube.capi import clusterclass
from provisioning.base import ClusterTopology, EnvSpec, Phase
from provisioning.kube.capi import CapiBackend
from provisioning.kube.client import NAMESPACE, KubeClients
from provisioning.kube.clusterclass import clusterclass_resource
from tests import capi_stages as st
from tests.fakes.kube_client import api_client

pytestmark = pytest.mark.skipif(not DEFAULT_CRD_DIR.is_dir(), reason="../shared/crds is absent")
CAPI = "cluster.x-k8s.io"
SPEC = EnvSpec(
    env_id="e1",
    name=st.CLUSTER,
    workspace="sandbox",
    namespace=st.NAMESPACE,
    template="small-cluster",
    owner_id="U012AB3CD",
    owner_email="alice@example.com",
    expires_at=datetime(2026, 1, 6, 9, 0, tzinfo=UTC),
    topology=ClusterTopology("aws-default", "v1.29.6", 3, st.WORKERS),
    install_id="inst-a",
)


@pytest.fixture
def fake() -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer() as server:
        yield server


@pytest.fixture
def clients(fake: FakeKubeApiServer, tmp_path: Any) -> Iterator[KubeClients]:
    config = fake.write_kubeconfig(tmp_path / "kubeconfig", context="mgmt")
    kube = KubeClients(str(config), "mgmt", clusters={})
    kube.management().create(
        NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": st.NAMESPACE}}
    )
    # create() checks the topology's variables against the ClusterClass it names
    kube.management().create(
        clusterclass_resource("v1beta1"), clusterclass("aws-default", st.NAMESPACE, [])
    )
    yield kube
    kube.close()


class Controllers:
    """Writes status as CAPI and Kommander would: PUT to the status subresource."""

    def __init__(self, fake: FakeKubeApiServer, version: str) -> None:
        self.api = k8s.CustomObjectsApi(api_client(fake, "mgmt"))
        self.version = version

    def put_status(self, group: str, version: str, plural: str, name: str, status: Any) -> None:
        ns = st.NAMESPACE
        obj: dict[str, Any] = self.api.get_namespaced_custom_object(  # type: ignore[assignment]
            group, version, ns, plural, name
        )
        obj["status"] = status
        stored: dict[str, Any] = self.api.replace_namespaced_custom_object_status(  # type: ignore[assignment]
            group, version, ns, plural, name, obj
        )
        assert stored["status"] == status  # nothing pruned: every field is in the CRD schema

    def create_md(self) -> None:
        body = st.machine_deployment(self.version)
        self.api.create_namespaced_custom_object(
            CAPI, self.version, st.NAMESPACE, "machinedeployments", body
        )

    def stage(self, stage: str, joined: bool) -> None:
        v = self.version
        self.put_status(CAPI, v, "clusters", st.CLUSTER, st.cluster_status(v, stage))
        if stage != "pending":
            md_status = st.md_status(v, stage)
            self.put_status(CAPI, v, "machinedeployments", st.MD_NAME, md_status)
        kc_status = st.kommander_status(joined)
        self.put_status(
            "kommander.mesosphere.io", "v1beta1", "kommanderclusters", st.CLUSTER, kc_status
        )


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
def test_ready_is_never_observed_before_the_workers_are_available(
    fake: FakeKubeApiServer, clients: KubeClients, version: str
) -> None:
    # setup: the environment's Cluster and KommanderCluster; CAPI's MachineDeployment
    backend = CapiBackend(clients, api_version=version)
    backend.create(SPEC)
    controllers = Controllers(fake, version)
    controllers.create_md()

    # execution: every stage, with Kommander joined early (as it does) and not yet
    seen = []
    for stage in st.STAGES:
        for joined in (False, True):
            controllers.stage(stage, joined)
            seen.append((stage, joined, backend.observe([SPEC])["e1"].phase))

    # validating
    ready = [(stage, joined) for stage, joined, phase in seen if phase is Phase.READY]
    assert ready == [("workers_2", True)]
    assert [phase for stage, joined, phase in seen if not joined] == [
        Phase.ACCEPTED,
        Phase.INFRASTRUCTURE,
        Phase.INFRASTRUCTURE,
        Phase.CONTROL_PLANE,
        Phase.CONTROL_PLANE,
        Phase.WORKERS,
    ]


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
def test_one_list_of_machine_deployments_per_namespace(
    fake: FakeKubeApiServer, clients: KubeClients, version: str
) -> None:
    backend = CapiBackend(clients, api_version=version)
    backend.create(SPEC)
    Controllers(fake, version).create_md()
    fake.clear_requests()

    backend.observe([SPEC, EnvSpec(**{**SPEC.__dict__, "env_id": "e2", "name": "dev-2"})])

    mds = [r for r in fake.requests if r.path.endswith("/machinedeployments")]
    assert [(r.method, r.path, r.param("labelSelector")) for r in mds] == [
        (
            "GET",
            f"/apis/{CAPI}/{version}/namespaces/{st.NAMESPACE}/machinedeployments",
            "cluster.x-k8s.io/cluster-name",
        )
    ]


def test_a_status_the_crd_rejects_is_rejected(
    fake: FakeKubeApiServer, clients: KubeClients
) -> None:
    # The fixtures pass the schema above; a wrongly typed counter does not.
    CapiBackend(clients, api_version="v1beta2").create(SPEC)
    controllers = Controllers(fake, "v1beta2")
    controllers.create_md()
    bad = {**st.md_status("v1beta2", "workers_2"), "availableReplicas": "two"}
    with pytest.raises(k8s.ApiException) as err:
        controllers.put_status(CAPI, "v1beta2", "machinedeployments", st.MD_NAME, bad)
    assert err.value.status == 422
