"""Both kinds of cluster template through the `capi` backend, with the real `kubernetes` client
against the fake API server (the real CRDs when ../shared/crds exists, and CAPI's and CAPA's
webhook checks)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiException, CustomObjectsApi

from bot.demo.kube.apiserver import DEFAULT_CRD_DIR, FakeKubeApiServer
from bot.demo.kube.capi import TAGS_VARIABLE, clusterclass, quick_start_variables
from bot.domain.clock import ManualClock
from bot.errors import NameTaken, PermanentError
from provisioning.base import ClusterManifests, ClusterTopology, EnvSpec, Phase
from provisioning.kube import labels as lbl
from provisioning.kube.capi import CapiBackend
from provisioning.kube.client import NAMESPACE, KubeClients
from provisioning.kube.clusterclass import clusterclass_resource
from provisioning.kube.templates import aws_tags
from tests.fakes.kube_client import api_client

TEMPLATE = Path(__file__).resolve().parents[2] / "examples" / "templates" / "dkp-aws.yaml"
VARIABLES = {
    "region": "us-west-2",
    "control_plane_instance_type": "m5.xlarge",
    "worker_instance_type": "m5.2xlarge",
    "worker_replicas": 2,
    "kubernetes_version": "v1.29.9",
}
EXPIRES = datetime(2026, 1, 8, 9, 0, tzinfo=UTC)
CC = ("cluster.x-k8s.io", "v1beta1", "clusterclasses")
KINDS = {
    "Cluster": ("cluster.x-k8s.io", "v1beta1", "clusters"),
    "AWSCluster": ("infrastructure.cluster.x-k8s.io", "v1beta2", "awsclusters"),
    "KubeadmControlPlane": ("controlplane.cluster.x-k8s.io", "v1beta1", "kubeadmcontrolplanes"),
    "AWSMachineTemplate": ("infrastructure.cluster.x-k8s.io", "v1beta2", "awsmachinetemplates"),
    "MachineDeployment": ("cluster.x-k8s.io", "v1beta1", "machinedeployments"),
    "KubeadmConfigTemplate": ("bootstrap.cluster.x-k8s.io", "v1beta1", "kubeadmconfigtemplates"),
}
real_crds = pytest.mark.skipif(not DEFAULT_CRD_DIR.is_dir(), reason="../shared/crds is absent")


@pytest.fixture
def fake() -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer() as server:
        yield server


@pytest.fixture
def clients(fake: FakeKubeApiServer, tmp_path: Any) -> Iterator[KubeClients]:
    config = fake.write_kubeconfig(tmp_path / "kubeconfig", context="mgmt")
    kube = KubeClients(str(config), "mgmt")
    kube.management().create(
        NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sandbox"}}
    )
    yield kube
    kube.close()


def manifests_env(**changes: Any) -> EnvSpec:
    base = EnvSpec(
        env_id="01JENV",
        name="sb-alice-1",
        workspace="sandbox",
        namespace="sandbox",
        template="sandbox",
        owner_id="U012AB3CD",
        owner_email="alice@example.com",
        expires_at=EXPIRES,
        install_id="inst-test",
        manifests=ClusterManifests(
            "templates/dkp-aws.yaml", TEMPLATE.read_text(encoding="utf-8"), VARIABLES
        ),
    )
    return EnvSpec(**{**base.__dict__, **changes})


def topology_env(variables: dict[str, object], **changes: Any) -> EnvSpec:
    topo = ClusterTopology(
        "aws-quick-start",
        "v1.30.5",
        1,
        2,
        variables,
        tags_variable=changes.pop("tags_variable", "additionalTags"),
        grace=timedelta(minutes=10),
    )
    return manifests_env(manifests=None, topology=topo, name="prod-1", **changes)


def objects(fake: FakeKubeApiServer) -> dict[str, list[dict[str, Any]]]:
    return {kind: fake.objects(*gvp, "sandbox") for kind, gvp in KINDS.items()}


# ---- manifests --------------------------------------------------------------------------------


def test_every_object_of_the_example_template_is_accepted_and_ours(fake, clients, caplog):
    # setup
    caplog.set_level(logging.WARNING, logger="provisioning.kube.client")
    backend = CapiBackend(clients)

    # execution
    backend.create(manifests_env())

    # validating: the API server took every object, dropped no field, and each carries our labels
    found = objects(fake)
    assert {kind: len(objs) for kind, objs in found.items()} == {
        "Cluster": 1,
        "AWSCluster": 1,
        "KubeadmControlPlane": 1,
        "AWSMachineTemplate": 2,
        "MachineDeployment": 1,
        "KubeadmConfigTemplate": 1,
    }
    dropped = [r.getMessage() for r in caplog.records if "kommanderclusters" not in r.getMessage()]
    assert dropped == []
    for objs in found.values():
        for obj in objs:
            assert obj["metadata"]["labels"][lbl.ENV_ID] == "01JENV"
            assert obj["metadata"]["labels"][lbl.MANAGED] == "true"
            assert obj["metadata"]["annotations"][lbl.EXPIRES_AT] == "2026-01-08T09:00:00Z"
    (cluster,) = found["Cluster"]
    assert cluster["metadata"]["name"] == "sb-alice-1"
    assert cluster["metadata"]["labels"]["konvoy.d2iq.io/provider"] == "aws"
    assert cluster["spec"]["infrastructureRef"]["name"] == "sb-alice-1"
    (aws,) = found["AWSCluster"]
    assert aws["spec"]["region"] == "us-west-2"
    assert aws["spec"]["additionalTags"] == {
        "cost-center": "platform",
        "owner": "alice@example.com",
        "expiration": "2026-01-08T09:00:00Z",
        "envbot.io/env-id": "01JENV",
        "envbot.io/install-id": "inst-test",
    }
    (md,) = found["MachineDeployment"]
    assert md["spec"]["replicas"] == 2
    assert fake.get_object(
        "kommander.mesosphere.io", "v1beta1", "kommanderclusters", "sandbox", "sb-alice-1"
    )
    assert backend.observe([manifests_env()])["01JENV"].phase is Phase.ACCEPTED


@real_crds
def test_the_fake_rejects_what_the_crds_reject_so_the_test_above_can_fail(fake, clients):
    broken = manifests_env(
        manifests=ClusterManifests(
            "broken.yaml",
            TEMPLATE.read_text(encoding="utf-8").replace(
                "  clusterName: ${CLUSTER_NAME}\n  replicas:", "  replicas:"
            ),
            VARIABLES,
        )
    )
    with pytest.raises(PermanentError, match=r"MachineDeployment.*spec.clusterName: Required"):
        CapiBackend(clients).create(broken)


def test_an_extension_moves_the_expiration_tag_and_keeps_the_authors_tags(fake, clients):
    # setup
    backend = CapiBackend(clients)
    backend.create(manifests_env())

    # execution: the reconcile job's refresh after /env extend is a create of the new spec
    later = manifests_env(expires_at=EXPIRES + timedelta(days=2))
    backend.create(later)

    # validating
    (aws,) = objects(fake)["AWSCluster"]
    assert aws["spec"]["additionalTags"] == {
        "cost-center": "platform",
        "owner": "alice@example.com",
        "expiration": "2026-01-10T09:00:00Z",
        "envbot.io/env-id": "01JENV",
        "envbot.io/install-id": "inst-test",
    }
    for objs in objects(fake).values():
        for obj in objs:
            assert obj["metadata"]["annotations"][lbl.EXPIRES_AT] == "2026-01-10T09:00:00Z"

    # a third pass with nothing to change writes nothing
    fake.clear_requests()
    backend.create(later)
    assert [r.method for r in fake.requests if r.method not in ("POST", "GET")] == []


def test_an_aws_cluster_of_another_environment_is_never_adopted(fake, clients):
    # setup: someone else's AWSCluster has the name our template renders
    other = manifests_env(env_id="01JOTHER")
    CapiBackend(clients).create(other)
    fake.delete_object(*KINDS["Cluster"], "sandbox", "sb-alice-1")

    # execution
    with pytest.raises(NameTaken) as info:
        CapiBackend(clients).create(manifests_env())

    # validating: refused before anything is written, the name named
    assert "the name `sb-alice-1` is taken" in str(info.value)
    assert fake.get_object(*KINDS["Cluster"], "sandbox", "sb-alice-1") is None
    (aws,) = objects(fake)["AWSCluster"]
    assert aws["spec"]["additionalTags"]["envbot.io/env-id"] == "01JOTHER"


def test_capa_refuses_a_tag_value_it_cannot_store(fake):
    # setup
    api = CustomObjectsApi(api_client(fake))
    fake.put_object(
        "", "v1", "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    )
    body = {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
        "kind": "AWSCluster",
        "metadata": {"name": "c"},
        "spec": {"region": "us-west-2", "additionalTags": {"owner": "o'neil@example.com"}},
    }

    # execution
    with pytest.raises(ApiException) as info:
        api.create_namespaced_custom_object(
            "infrastructure.cluster.x-k8s.io", "v1beta2", "x", "awsclusters", body
        )

    # validating
    assert info.value.status == 422
    assert "value cannot have characters other than" in str(info.value.body)


# ---- topology ---------------------------------------------------------------------------------


def add_class(clients: KubeClients, *extra: dict[str, Any]) -> None:
    clients.management().create(
        clusterclass_resource("v1beta1"),
        clusterclass("aws-quick-start", "sandbox", quick_start_variables(*extra)),
    )


def test_an_undeclared_variable_is_refused_before_anything_is_created(fake, clients):
    # setup: CAPA's quick-start class; the policy passes instanceType, which it does not declare
    add_class(clients, TAGS_VARIABLE)
    spec = topology_env({"region": "us-west-2", "instanceType": "m5.xlarge"})

    # execution
    with pytest.raises(PermanentError) as info:
        CapiBackend(clients).create(spec)

    # validating
    assert str(info.value) == (
        "template sandbox: variable instanceType is not declared by ClusterClass aws-quick-start "
        "(declared: additionalTags, controlPlaneMachineType, region, sshKeyName, "
        "workerMachineType)"
    )
    assert not any(r.method == "POST" for r in fake.requests if "clusters" in r.path)


def test_the_fake_refuses_what_capis_webhook_refuses(fake, clients):
    # setup: the Cluster as envbot would have written it without the check
    add_class(clients)
    body = {
        "apiVersion": "cluster.x-k8s.io/v1beta1",
        "kind": "Cluster",
        "metadata": {"name": "c1", "namespace": "sandbox"},
        "spec": {
            "topology": {
                "class": "aws-quick-start",
                "version": "v1.30.5",
                "variables": [{"name": "instanceType", "value": "m5.xlarge"}],
            }
        },
    }
    api = CustomObjectsApi(api_client(fake))

    # execution
    with pytest.raises(ApiException) as info:
        api.create_namespaced_custom_object(
            "cluster.x-k8s.io", "v1beta1", "sandbox", "clusters", body
        )

    # validating: CAPI's wording (internal/topology/variables) and field path
    assert info.value.status == 422
    assert json.loads(info.value.body or "{}")["message"] == (
        'Cluster.cluster.x-k8s.io "c1" is invalid: spec.topology.variables[instanceType]: '
        'Invalid value: "\\"m5.xlarge\\"": variable is not defined'
    )


@pytest.mark.parametrize(
    ("schema", "value", "expected"),
    [
        (
            {"type": "string", "enum": ["m5.xlarge"]},
            "t3.large",
            "'t3.large' is not one of 'm5.xlarge'",
        ),
        ({"type": "integer", "minimum": 1}, 0, "0 is below the minimum 1"),
        ({"type": "string", "pattern": "^m5"}, "t3.large", "'t3.large' does not match ^m5"),
        ({"type": "string"}, 5, "must be of type string, got 5"),
    ],
)
def test_a_value_the_schema_refuses_names_the_template_and_the_variable(
    fake, clients, schema, value, expected
):
    add_class(clients, {"name": "size", "required": False, "schema": {"openAPIV3Schema": schema}})
    spec = topology_env({"size": value}, tags_variable="")

    with pytest.raises(PermanentError) as info:
        CapiBackend(clients).create(spec)

    assert str(info.value) == f"template sandbox: variable size: {expected}"


def test_topology_tags_reach_the_cluster_and_follow_an_extension(fake, clients):
    # setup
    add_class(clients, TAGS_VARIABLE)
    backend = CapiBackend(clients)
    spec = topology_env({"region": "us-west-2"})

    # execution
    backend.create(spec)
    later = topology_env({"region": "us-west-2"}, expires_at=EXPIRES + timedelta(days=1))
    backend.create(later)

    # validating: the patched Cluster passed the fake's webhook check against the class again
    cluster = fake.get_object(*KINDS["Cluster"], "sandbox", "prod-1")
    assert cluster is not None
    variables = {v["name"]: v["value"] for v in cluster["spec"]["topology"]["variables"]}
    assert variables == {"region": "us-west-2", "additionalTags": aws_tags(later)}
    assert variables["additionalTags"]["expiration"] == "2026-01-09T09:00:00Z"


def _topology_reconciled(fake: FakeKubeApiServer, reason: str, since: datetime) -> None:
    condition = {
        "type": "TopologyReconciled",
        "status": "False",
        "reason": reason,
        "message": "failed to patch AWSCluster: admission webhook denied the request",
        "lastTransitionTime": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    fake.set_status(*KINDS["Cluster"], "sandbox", "prod-1", {"conditions": [condition]})


def test_topology_reconciled_false_past_the_grace_period_fails_with_its_message(fake, clients):
    # setup
    add_class(clients, TAGS_VARIABLE)
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    backend = CapiBackend(clients, clock=clock)
    spec = topology_env({"region": "us-west-2"})
    backend.create(spec)
    _topology_reconciled(fake, "ReconcileFailed", clock.now())

    # execution / validating: within the grace period it is still progress
    clock.advance(timedelta(minutes=9))
    assert backend.observe([spec])["01JENV"].phase is Phase.ACCEPTED
    clock.advance(timedelta(minutes=2))
    seen = backend.observe([spec])["01JENV"]

    assert seen.phase is Phase.FAILED
    assert seen.failure == (
        "Cluster API cannot reconcile the cluster topology (ReconcileFailed): failed to patch "
        "AWSCluster: admission webhook denied the request"
    )


def test_a_normal_wait_of_topology_reconciled_is_not_a_failure(fake, clients):
    add_class(clients, TAGS_VARIABLE)
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    backend = CapiBackend(clients, clock=clock)
    spec = topology_env({"region": "us-west-2"})
    backend.create(spec)
    _topology_reconciled(fake, "MachineDeploymentsCreatePending", clock.now())

    clock.advance(timedelta(hours=1))

    assert backend.observe([spec])["01JENV"].failure == ""
