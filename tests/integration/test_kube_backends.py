"""The Kubernetes backends with the real `kubernetes` client against the fake API server, which
validates every object against the real CRD schemas when ../shared/crds exists."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.demo.kube.apiserver import DEFAULT_CRD_DIR, FakeKubeApiServer
from bot.demo.kube.capi import clusterclass, quick_start_variables
from bot.demo.kube.schema import PRESERVE
from bot.domain.clock import ManualClock
from bot.errors import NameTaken, PermanentError, TemporaryError
from provisioning.base import ClusterTopology, EnvSpec, GrantSpec, Phase
from provisioning.kube import labels as lbl
from provisioning.kube.capi import CapiBackend
from provisioning.kube.client import CALL_TRIES, NAMESPACE, KubeClients
from provisioning.kube.clusterclass import clusterclass_resource
from provisioning.kube.kommander import KommanderAccessBackend
from provisioning.kube.namespace import NamespaceBackend
from provisioning.kube.rbac import RbacAccessBackend
from provisioning.registry import build_access_backends, build_environment_backends
from tests import capi_stages as st

CAPI = "cluster.x-k8s.io"
KOM = ("kommander.mesosphere.io", "v1beta1")
WS = ("workspaces.kommander.mesosphere.io", "v1alpha1")
RBAC = ("rbac.authorization.k8s.io", "v1")
EXPIRES = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
INSTALL = "inst-a"
real_crds = pytest.mark.skipif(not DEFAULT_CRD_DIR.is_dir(), reason="../shared/crds is absent")


@pytest.fixture
def fake() -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer() as server:
        yield server


@pytest.fixture
def clients(fake: FakeKubeApiServer, tmp_path: Any) -> Iterator[KubeClients]:
    config = fake.write_kubeconfig(tmp_path / "kubeconfig", context="mgmt")
    kube = KubeClients(str(config), "mgmt", clusters={"shared": "mgmt"})
    kube.management().create(
        NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sandbox"}}
    )
    add_clusterclass(kube, "sandbox")
    yield kube
    kube.close()


def add_clusterclass(kube: KubeClients, namespace: str) -> None:
    """The ClusterClass `env()` names: CAPA's quick-start variables plus a free-form `tags`."""
    tags = {
        "name": "tags",
        "required": False,
        "schema": {"openAPIV3Schema": {"type": "object", **PRESERVE}},
    }
    kube.management().create(
        clusterclass_resource("v1beta1"),
        clusterclass("aws-default", namespace, quick_start_variables(tags)),
    )


def env(env_id: str = "e1", name: str = "dev-1", **changes: Any) -> EnvSpec:
    base = EnvSpec(
        env_id=env_id,
        name=name,
        workspace="sandbox",
        namespace="sandbox",
        template="small-cluster",
        owner_id="U012AB3CD",
        owner_email="alice@example.com",
        expires_at=EXPIRES,
        topology=ClusterTopology(
            "aws-default", "v1.29.6", 3, 2, {"region": "eu-west-1", "tags": {"team": "a"}}
        ),
        install_id=INSTALL,
    )
    return EnvSpec(**{**base.__dict__, **changes})


def workers_available(fake: FakeKubeApiServer, version: str) -> None:
    """CAPI's MachineDeployment of dev-1 with both replicas available."""
    md = st.machine_deployment(version)
    md["status"] = st.md_status(version, "workers_2")
    fake.put_object(CAPI, version, "machinedeployments", md)


def grant(grant_id: str = "g1", **changes: Any) -> GrantSpec:
    base = GrantSpec(
        grant_id=grant_id,
        subject="alice@example.com",
        workspace="sandbox",
        namespace="sandbox",
        role="workspace-cluster-admin",
        expires_at=EXPIRES,
        kommander_role="kommander-workspace-admin",
        global_cluster_role="kommander-federated-view",
        global_kommander_role="dkp-kommander-view",
        install_id=INSTALL,
    )
    return GrantSpec(**{**base.__dict__, **changes})


def mutate(
    fake: FakeKubeApiServer,
    gvp: tuple[str, str, str],
    ns: str | None,
    name: str,
    change: Callable[[dict[str, Any]], None],
) -> None:
    fake.store.mutate(fake.resource_type(*gvp), ns, name, change)


# ---- capi ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1beta1", "v1beta2"])
def test_capi_create_is_idempotent_and_objects_pass_the_schema(fake, clients, version):
    # setup
    backend = CapiBackend(clients, api_version=version)
    spec = env()

    # execution
    backend.create(spec)
    fake.clear_requests()
    backend.create(spec)

    # validating: the second create checked both names, met 409 and read each object back,
    # creating nothing new
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests] == [
        ("GET", "aws-default"),  # the ClusterClass, to check the variables against
        ("GET", "dev-1"),
        ("GET", "dev-1"),
        ("POST", "clusters"),
        ("GET", "dev-1"),
        ("POST", "kommanderclusters"),
        ("GET", "dev-1"),
    ]
    clusters = fake.objects(CAPI, version, "clusters", "sandbox")
    assert len(clusters) == 1
    cluster = clusters[0]
    assert cluster["metadata"]["labels"] == {
        "envbot.io/managed": "true",
        "envbot.io/env-id": "e1",
        "envbot.io/install-id": "inst-a",
        "envbot.io/owner": "U012AB3CD",
        "envbot.io/template": "small-cluster",
    }
    assert cluster["metadata"]["annotations"] == {
        "envbot.io/expires-at": "2026-01-06T09:00:00Z",
        "envbot.io/owner-email": "alice@example.com",
    }
    topology = cluster["spec"]["topology"]
    if version == "v1beta1":
        assert topology["class"] == "aws-default"
    else:
        assert topology["classRef"] == {"name": "aws-default"}
    assert topology["version"] == "v1.29.6"
    assert topology["controlPlane"] == {"replicas": 3}
    assert topology["workers"]["machineDeployments"] == [
        {"class": "default-worker", "name": "md-0", "replicas": 2}
    ]
    assert topology["variables"] == [
        {"name": "region", "value": "eu-west-1"},
        {"name": "tags", "value": {"team": "a"}},
    ]
    kc = fake.get_object(*KOM, "kommanderclusters", "sandbox", "dev-1")
    assert kc is not None
    assert kc["spec"]["kubeconfigRef"] == {"name": "dev-1-kubeconfig"}
    assert kc["metadata"]["labels"]["envbot.io/env-id"] == "e1"


@real_crds
def test_kommander_cluster_ref_is_pruned_by_the_old_crd_with_a_logged_warning(
    fake, clients, caplog
):
    caplog.set_level(logging.WARNING, logger="provisioning.kube.client")
    CapiBackend(clients).create(env())
    kc = fake.get_object(*KOM, "kommanderclusters", "sandbox", "dev-1")
    assert kc is not None
    assert "capiCluster" not in kc["spec"].get("clusterRef", {})
    assert any("spec.clusterRef.capiCluster" in r.getMessage() for r in caplog.records)


def test_capi_observe_follows_v1beta1_conditions_to_ready(fake, clients):
    # setup
    backend = CapiBackend(clients, api_version="v1beta1")
    spec = env()
    backend.create(spec)
    gvp = (CAPI, "v1beta1", "clusters")

    def phase() -> Phase:
        return backend.observe([spec])["e1"].phase

    # execution / validating, one condition at a time
    assert phase() is Phase.ACCEPTED
    fake.set_condition(*gvp, "sandbox", "dev-1", "InfrastructureReady", "True")
    assert phase() is Phase.INFRASTRUCTURE
    fake.set_condition(*gvp, "sandbox", "dev-1", "ControlPlaneReady", "True")
    assert phase() is Phase.CONTROL_PLANE
    fake.set_condition(*gvp, "sandbox", "dev-1", "Ready", "True")
    assert phase() is Phase.CONTROL_PLANE  # the summary ignores workers; there are none yet
    workers_available(fake, "v1beta1")
    assert phase() is Phase.WORKERS
    fake.set_status(*KOM, "kommanderclusters", "sandbox", "dev-1", {"phase": "Joining"})
    assert phase() is Phase.WORKERS
    fake.set_status(
        *KOM,
        "kommanderclusters",
        "sandbox",
        "dev-1",
        {"phase": "Joined", "ingress": {"address": "a1b2.elb.amazonaws.com"}},
    )
    ready = backend.observe([spec])["e1"]
    assert ready.phase is Phase.READY
    assert ready.endpoints == {"api_server": "https://a1b2.elb.amazonaws.com/dkp/api-server"}
    assert ready.drift == ""
    assert ready.failure == ""


def test_capi_observe_follows_v1beta2_conditions_and_joins_before_workers(fake, clients):
    backend = CapiBackend(clients, api_version="v1beta2")
    spec = env()
    backend.create(spec)
    gvp = (CAPI, "v1beta2", "clusters")
    fake.set_condition(*gvp, "sandbox", "dev-1", "InfrastructureReady", "True")
    fake.set_condition(*gvp, "sandbox", "dev-1", "ControlPlaneAvailable", "True")
    fake.set_condition(*gvp, "sandbox", "dev-1", "WorkersAvailable", "False")
    assert backend.observe([spec])["e1"].phase is Phase.CONTROL_PLANE
    fake.set_status(*KOM, "kommanderclusters", "sandbox", "dev-1", {"phase": "Joined"})
    assert backend.observe([spec])["e1"].phase is Phase.CONTROL_PLANE  # Attached waits for workers
    fake.set_condition(*gvp, "sandbox", "dev-1", "WorkersAvailable", "True")
    assert backend.observe([spec])["e1"].phase is Phase.CONTROL_PLANE  # no MachineDeployment yet
    workers_available(fake, "v1beta2")
    observed = backend.observe([spec])["e1"]
    assert observed.phase is Phase.READY
    assert observed.endpoints == {}  # Kommander has not published an ingress address


def test_capi_v1beta2_status_read_through_v1beta1_is_understood(fake, clients):
    # A v1beta1 read of a Cluster API 1.11+ cluster carries the new conditions under status.v1beta2.
    backend = CapiBackend(clients, api_version="v1beta1")
    spec = env()
    backend.create(spec)
    conditions = [
        {"type": t, "status": "True", "reason": "Ok", "lastTransitionTime": "2026-01-05T09:00:00Z"}
        for t in ("InfrastructureReady", "ControlPlaneAvailable", "WorkersAvailable")
    ]
    fake.set_status(
        CAPI, "v1beta1", "clusters", "sandbox", "dev-1", {"v1beta2": {"conditions": conditions}}
    )
    fake.set_status(*KOM, "kommanderclusters", "sandbox", "dev-1", {"phase": "Joined"})
    assert backend.observe([spec])["e1"].phase is Phase.CONTROL_PLANE
    workers_available(fake, "v1beta1")
    assert backend.observe([spec])["e1"].phase is Phase.READY


def test_capi_failure_is_reported_with_the_message(fake, clients):
    backend = CapiBackend(clients)
    spec = env()
    backend.create(spec)
    fake.set_status(
        CAPI,
        "v1beta1",
        "clusters",
        "sandbox",
        "dev-1",
        {"phase": "Failed", "failureMessage": "AWSCluster: VPC limit exceeded"},
    )
    observed = backend.observe([spec])["e1"]
    assert observed.phase is Phase.FAILED
    assert observed.failure == "AWSCluster: VPC limit exceeded"


def test_capi_observe_uses_one_list_per_kind_and_namespace(fake, clients):
    # setup: two envs in one workspace, one in another
    clients.management().create(
        NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}
    )
    add_clusterclass(clients, "prod")
    backend = CapiBackend(clients)
    specs = [env("e1", "dev-1"), env("e2", "dev-2"), env("e3", "dev-3", namespace="prod")]
    for s in specs:
        backend.create(s)
    fake.clear_requests()

    # execution
    observed = backend.observe([*specs, env("e4", "never-made")])

    # validating
    # MachineDeployments: every one naming a cluster (a `name in (...)` selector would grow
    # with N past what a proxy's 8 KiB request line takes), kept for ours by name.
    assert all(
        r.method == "GET"
        and r.param("labelSelector")
        == (
            "cluster.x-k8s.io/cluster-name"
            if r.path.endswith("/machinedeployments")
            else "envbot.io/managed=true"
        )
        for r in fake.requests
    )
    assert sorted(r.path for r in fake.requests) == [
        "/apis/cluster.x-k8s.io/v1beta1/namespaces/prod/clusters",
        "/apis/cluster.x-k8s.io/v1beta1/namespaces/prod/machinedeployments",
        "/apis/cluster.x-k8s.io/v1beta1/namespaces/sandbox/clusters",
        "/apis/cluster.x-k8s.io/v1beta1/namespaces/sandbox/machinedeployments",
        "/apis/kommander.mesosphere.io/v1beta1/namespaces/prod/kommanderclusters",
        "/apis/kommander.mesosphere.io/v1beta1/namespaces/sandbox/kommanderclusters",
    ]
    assert {k: o.phase for k, o in observed.items()} == {
        "e1": Phase.ACCEPTED,
        "e2": Phase.ACCEPTED,
        "e3": Phase.ACCEPTED,
        "e4": Phase.DELETED,
    }
    assert not observed["e4"].exists


def test_capi_drift_when_an_object_is_deleted_out_of_band(fake, clients):
    # setup: a READY environment
    clock = ManualClock(datetime.now(UTC))
    backend = CapiBackend(clients, clock=clock)
    spec = env()
    backend.create(spec)
    for cond in ("InfrastructureReady", "ControlPlaneReady", "Ready"):
        fake.set_condition(CAPI, "v1beta1", "clusters", "sandbox", "dev-1", cond, "True")
    workers_available(fake, "v1beta1")
    fake.set_status(*KOM, "kommanderclusters", "sandbox", "dev-1", {"phase": "Joined"})
    assert backend.observe([spec], expected_ready=True)["e1"].phase is Phase.READY

    # execution
    assert fake.delete_object(*KOM, "kommanderclusters", "sandbox", "dev-1")

    # validating: drift at once for a READY env, after the grace period otherwise
    ready_view = backend.observe([spec], expected_ready=True)["e1"]
    assert ready_view.drift == "KommanderCluster sandbox/dev-1 is missing"
    assert ready_view.phase is Phase.WORKERS
    assert backend.observe([spec])["e1"].drift == ""
    clock.advance(timedelta(minutes=6))
    assert backend.observe([spec])["e1"].drift == "KommanderCluster sandbox/dev-1 is missing"

    # a retried create repairs it
    backend.create(spec)
    assert backend.observe([spec], expected_ready=True)["e1"].drift == ""


def test_capi_drift_when_labels_change_and_create_repairs_them(fake, clients):
    backend = CapiBackend(clients)
    spec = env()
    backend.create(spec)

    def relabel(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"]["envbot.io/owner"] = "someone-else"

    mutate(fake, (CAPI, "v1beta1", "clusters"), "sandbox", "dev-1", relabel)
    drift = backend.observe([spec])["e1"].drift
    assert drift == "Cluster dev-1: label envbot.io/owner is 'someone-else', expected 'U012AB3CD'"
    backend.create(spec)
    assert backend.observe([spec])["e1"].drift == ""


def test_capi_refuses_to_adopt_another_envs_cluster(clients):
    backend = CapiBackend(clients)
    backend.create(env("e1"))
    with pytest.raises(NameTaken, match=r"the name `dev-1` is taken") as info:
        backend.create(env("e9"))
    assert "belongs to envbot.io/env-id='e1', not 'e9'" in info.value.detail


def test_capi_create_in_a_missing_workspace_namespace_is_permanent(clients):
    with pytest.raises(PermanentError, match="in namespace no-such-workspace"):
        CapiBackend(clients).create(env(namespace="no-such-workspace"))


def test_capi_delete_reports_deleting_until_gone(fake, clients):
    # setup: CAPI holds a finalizer until the machines are gone
    backend = CapiBackend(clients)
    spec = env()
    backend.create(spec)

    def add_finalizer(obj: dict[str, Any]) -> None:
        obj["metadata"]["finalizers"] = ["cluster.cluster.x-k8s.io"]

    mutate(fake, (CAPI, "v1beta1", "clusters"), "sandbox", "dev-1", add_finalizer)
    fake.clear_requests()

    # execution
    backend.delete(spec)
    backend.delete(spec)

    # validating
    deletes = [r for r in fake.requests if r.method == "DELETE"]
    assert {r.param("propagationPolicy") for r in deletes} == {"Foreground"}
    assert fake.get_object(*KOM, "kommanderclusters", "sandbox", "dev-1") is None
    assert backend.observe([spec])["e1"].phase is Phase.DELETING
    fake.delete_object(CAPI, "v1beta1", "clusters", "sandbox", "dev-1")  # CAPI finishes
    gone = backend.observe([spec])["e1"]
    assert gone.phase is Phase.DELETED
    assert not gone.exists


# ---- namespace -----------------------------------------------------------------------------


def ns_env(**changes: Any) -> EnvSpec:
    fields: dict[str, Any] = {
        "namespace": "alice-dev",
        "template": "namespace-small",
        "topology": None,
        "cluster_ref": "shared",
        "role": "edit",
        "quota": {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "20"},
        "limit_range": {
            "default": {"cpu": "500m", "memory": "512Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
        },
    }
    merged = {"env_id": "n1", "name": "alice-dev", **fields, **changes}
    return env(**merged)


def test_namespace_backend_full_cycle(fake, clients):
    # setup
    backend = NamespaceBackend(clients)
    spec = ns_env()

    # execution
    backend.create(spec)
    backend.create(spec)

    # validating: the objects
    ns = fake.get_object("", "v1", "namespaces", None, "alice-dev")
    assert ns is not None
    assert ns["metadata"]["labels"]["envbot.io/env-id"] == "n1"
    assert ns["metadata"]["annotations"]["envbot.io/owner-email"] == "alice@example.com"
    quota = fake.get_object("", "v1", "resourcequotas", "alice-dev", "envbot-quota")
    assert quota is not None
    assert quota["spec"]["hard"] == {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "20"}
    limits = fake.get_object("", "v1", "limitranges", "alice-dev", "envbot-limits")
    assert limits is not None
    assert limits["spec"]["limits"][0]["type"] == "Container"
    assert limits["spec"]["limits"][0]["default"] == {"cpu": "500m", "memory": "512Mi"}
    binding = fake.get_object(*RBAC, "rolebindings", "alice-dev", "envbot-owner")
    assert binding is not None
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "edit",
    }
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@example.com"}
    ]
    ready = backend.observe([spec])["n1"]
    assert ready.phase is Phase.READY
    assert ready.drift == ""

    # drift: the owner's RoleBinding and the quota vanish
    fake.delete_object(*RBAC, "rolebindings", "alice-dev", "envbot-owner")
    fake.delete_object("", "v1", "resourcequotas", "alice-dev", "envbot-quota")
    drifted = backend.observe([spec], expected_ready=True)["n1"]
    assert drifted.drift == (
        "ResourceQuota alice-dev/envbot-quota is missing; "
        "RoleBinding alice-dev/envbot-owner is missing"
    )
    assert drifted.phase is Phase.ACCEPTED

    # delete
    backend.delete(spec)
    backend.delete(spec)
    gone = backend.observe([spec])["n1"]
    assert gone.phase is Phase.DELETED
    assert not gone.exists
    assert fake.get_object("", "v1", "limitranges", "alice-dev", "envbot-limits") is None


def test_namespace_limit_range_follows_the_template(fake, clients):
    # setup: one template sets limit_range, another leaves it out
    backend = NamespaceBackend(clients)
    with_limits = ns_env()
    without = ns_env(env_id="n2", name="bob-dev", namespace="bob-dev", limit_range={})

    # execution
    backend.create(with_limits)
    backend.create(without)
    fake.store.mutate(
        fake.resource_type("", "v1", "limitranges"),
        "alice-dev",
        "envbot-limits",
        lambda obj: obj["spec"]["limits"][0]["default"].update({"ephemeral-storage": "1Gi"}),
    )
    seen = backend.observe([with_limits, without])

    # validating: the LimitRange carries the policy's values and the env's labels; none without
    limits = fake.get_object("", "v1", "limitranges", "alice-dev", "envbot-limits")
    assert limits is not None
    assert limits["metadata"]["labels"]["envbot.io/env-id"] == "n1"
    assert limits["spec"]["limits"][0]["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}
    assert fake.objects("", "v1", "limitranges", "bob-dev") == []
    assert seen["n1"].drift == "LimitRange envbot-limits sets other container defaults now"
    assert seen["n2"].phase is Phase.READY
    assert seen["n2"].drift == ""


def test_limit_range_with_request_above_limit_is_rejected_as_the_api_server_does(clients):
    # setup
    bad = ns_env(limit_range={"default": {"cpu": "500m"}, "defaultRequest": {"cpu": "800m"}})

    # execution
    with pytest.raises(PermanentError) as refused:
        NamespaceBackend(clients).create(bad)

    # validating: ValidateLimitRange's wording and field path
    assert (
        'spec.limits[0].defaultRequest[cpu]: Invalid value: "800m": default request value 800m '
        "is greater than default limit value 500m"
    ) in str(refused.value)


def test_namespace_transfer_refreshes_owner_label_and_binding(fake, clients):
    # setup
    backend = NamespaceBackend(clients)
    backend.create(ns_env())

    # execution
    heir = ns_env(owner_id="U0BOB", owner_email="Bob@Example.com")
    backend.create(heir)

    # validating: the email is kept as given, on the namespace and in the binding
    ns = fake.get_object("", "v1", "namespaces", None, "alice-dev")
    assert ns is not None
    assert ns["metadata"]["labels"]["envbot.io/owner"] == "U0BOB"
    assert ns["metadata"]["annotations"]["envbot.io/owner-email"] == "Bob@Example.com"
    binding = fake.get_object(*RBAC, "rolebindings", "alice-dev", "envbot-owner")
    assert binding is not None
    assert [s["name"] for s in binding["subjects"]] == ["Bob@Example.com"]
    assert backend.observe([heir])["n1"].drift == ""


def test_namespace_backend_unknown_cluster_is_permanent(clients):
    with pytest.raises(PermanentError, match="not configured"):
        NamespaceBackend(clients).create(ns_env(cluster_ref="elsewhere"))


# ---- kommander -----------------------------------------------------------------------------

KINDS = {
    "virtualgroups": (*KOM, None),
    "virtualgroupworkspacerolebindings": (*WS, "sandbox"),
    "virtualgroupkommanderworkspacerolebindings": (*WS, "sandbox"),
    "virtualgroupclusterrolebindings": (*KOM, None),
    "virtualgroupkommanderclusterrolebindings": (*WS, None),
}


def grant_objects(fake: FakeKubeApiServer, name: str) -> dict[str, dict[str, Any] | None]:
    return {plural: fake.get_object(g, v, plural, ns, name) for plural, (g, v, ns) in KINDS.items()}


def test_kommander_grant_creates_schema_valid_objects(fake, clients, caplog):
    # setup
    caplog.set_level(logging.WARNING, logger="provisioning.kube.client")
    backend = KommanderAccessBackend(clients)

    # execution
    backend.grant(grant())
    backend.grant(grant())

    # validating: nothing was pruned, so every field is in the schema
    assert not caplog.records
    objs = grant_objects(fake, "envbot-g1")
    assert all(o is not None for o in objs.values())
    specs = {plural: copy.deepcopy(o["spec"]) for plural, o in objs.items() if o is not None}
    assert specs == {
        "virtualgroups": {
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User",
                    "name": "alice@example.com",
                }
            ]
        },
        "virtualgroupworkspacerolebindings": {
            "virtualGroupRef": {"name": "envbot-g1"},
            "workspaceRoleRef": {"name": "workspace-cluster-admin"},
            "placement": {"clusterSelector": {}},
        },
        "virtualgroupkommanderworkspacerolebindings": {
            "virtualGroupRef": {"name": "envbot-g1"},
            "kommanderWorkspaceRoleRef": {"name": "kommander-workspace-admin"},
        },
        "virtualgroupclusterrolebindings": {
            "virtualGroupRef": {"name": "envbot-g1"},
            "clusterRoleRef": {"name": "kommander-federated-view"},
            "placement": {"clusterSelector": {}},
        },
        "virtualgroupkommanderclusterrolebindings": {
            "virtualGroupRef": {"name": "envbot-g1"},
            "clusterRoleRef": {"name": "dkp-kommander-view"},
        },
    }
    for o in objs.values():
        assert o is not None
        assert o["metadata"]["labels"] == {
            "envbot.io/managed": "true",
            "envbot.io/grant-id": "g1",
            "envbot.io/install-id": "inst-a",
        }
    assert backend.drifted([grant()]) == {}


def test_kommander_overlapping_grants_revoke_independently(fake, clients):
    # setup: two grants for the same user and workspace
    backend = KommanderAccessBackend(clients)
    backend.grant(grant("a"))
    backend.grant(grant("b"))

    # execution
    backend.revoke(grant("a"))
    backend.revoke(grant("a"))

    # validating
    assert set(grant_objects(fake, "envbot-a").values()) == {None}
    assert all(o is not None for o in grant_objects(fake, "envbot-b").values())
    assert backend.drifted([grant("b")]) == {}
    assert backend.drifted([grant("a")]) == {
        "a": "; ".join(
            f"{kind} envbot-a is missing"
            for kind in (
                "VirtualGroup",
                "VirtualGroupWorkspaceRoleBinding",
                "VirtualGroupKommanderWorkspaceRoleBinding",
                "VirtualGroupClusterRoleBinding",
                "VirtualGroupKommanderClusterRoleBinding",
            )
        )
    }


def test_kommander_drift_reports_missing_objects_and_changed_subjects(fake, clients):
    backend = KommanderAccessBackend(clients)
    backend.grant(grant("a"))
    backend.grant(grant("b"))
    fake.delete_object(*WS, "virtualgroupworkspacerolebindings", "sandbox", "envbot-a")

    def widen(obj: dict[str, Any]) -> None:
        obj["spec"]["subjects"].append({"kind": "Group", "name": "oidc:everyone"})

    mutate(fake, (*KOM, "virtualgroups"), None, "envbot-b", widen)
    fake.clear_requests()

    drift = backend.drifted([grant("a"), grant("b")])

    assert drift == {
        "a": "VirtualGroupWorkspaceRoleBinding envbot-a is missing",
        "b": "VirtualGroup envbot-b subjects are "
        "[('User', 'alice@example.com'), ('Group', 'oidc:everyone')]"
        " instead of [('User', 'alice@example.com')]",
    }
    assert len(fake.requests) == 5  # one list per kind: both grants share a namespace


def test_kommander_minimal_grant_has_only_group_and_workspace_binding(fake, clients):
    backend = KommanderAccessBackend(clients)
    spec = grant("m", kommander_role="", global_cluster_role="", global_kommander_role="")
    backend.grant(spec)
    present = {k for k, o in grant_objects(fake, "envbot-m").items() if o is not None}
    assert present == {"virtualgroups", "virtualgroupworkspacerolebindings"}
    assert backend.drifted([spec]) == {}


# ---- rbac ----------------------------------------------------------------------------------


def rbac_grant(grant_id: str, namespace: str) -> GrantSpec:
    return grant(grant_id, namespace=namespace, cluster_role="view", cluster_ref="shared")


def test_rbac_grant_revoke_and_drift(fake, clients):
    # setup
    backend = RbacAccessBackend(clients)
    in_ns, cluster_wide = rbac_grant("r1", "sandbox"), rbac_grant("r2", "")

    # execution
    backend.grant(in_ns)
    backend.grant(in_ns)
    backend.grant(cluster_wide)

    # validating
    rb = fake.get_object(*RBAC, "rolebindings", "sandbox", "envbot-r1")
    crb = fake.get_object(*RBAC, "clusterrolebindings", None, "envbot-r2")
    assert rb is not None
    assert crb is not None
    for obj in (rb, crb):
        assert obj["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "view",
        }
        assert obj["subjects"] == [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@example.com"}
        ]
    assert backend.drifted([in_ns, cluster_wide]) == {}

    fake.delete_object(*RBAC, "clusterrolebindings", None, "envbot-r2")
    assert backend.drifted([in_ns, cluster_wide]) == {
        "r2": "ClusterRoleBinding envbot-r2 is missing"
    }

    backend.revoke(in_ns)
    backend.revoke(in_ns)
    backend.revoke(cluster_wide)
    assert fake.get_object(*RBAC, "rolebindings", "sandbox", "envbot-r1") is None


# ---- errors and wiring ---------------------------------------------------------------------


def test_injected_503_is_temporary_with_retry_after(fake, clients):
    fake.inject_error("POST", "/clusters", 503, "ServiceUnavailable", retry_after=9)
    with pytest.raises(TemporaryError) as info:
        CapiBackend(clients).create(env())
    assert info.value.retry_after == 9.0
    assert "HTTP 503" in str(info.value)


def test_injected_503_on_list_is_temporary(fake, clients):
    # one call is tried CALL_TRIES times before the pass gives up
    fake.inject_error("GET", "/virtualgroups", 503, "ServiceUnavailable", times=CALL_TRIES)
    with pytest.raises(TemporaryError):
        KommanderAccessBackend(clients).drifted([grant()])


def test_injected_403_is_permanent_with_the_api_message(fake, clients):
    fake.inject_error(
        "POST",
        "/virtualgroups",
        403,
        "Forbidden",
        message='virtualgroups.kommander.mesosphere.io is forbidden: User "system:anonymous"',
    )
    with pytest.raises(
        PermanentError, match=r"HTTP 403: virtualgroups\.kommander\.mesosphere\.io is forbidden"
    ):
        KommanderAccessBackend(clients).grant(grant())


def test_connection_refused_is_temporary(tmp_path):
    with FakeKubeApiServer() as gone:
        config = gone.write_kubeconfig(tmp_path / "kubeconfig", context="mgmt")
    clients = KubeClients(str(config), "mgmt")
    try:
        with pytest.raises(TemporaryError, match="cannot reach the API server"):
            CapiBackend(clients).observe([env()])
    finally:
        clients.close()


def test_registry_with_clients_builds_every_backend(clients):
    envs = build_environment_backends(ManualClock(EXPIRES), clients)
    access = build_access_backends(clients)
    assert {k: v.name for k, v in envs.items()} == {
        "fake": "fake",
        "capi": "capi",
        "namespace": "namespace",
    }
    assert {k: v.name for k, v in access.items()} == {
        "fake": "fake",
        "kommander": "kommander",
        "rbac": "rbac",
    }
    assert lbl.MANAGED_SELECTOR == "envbot.io/managed=true"


def test_grants_without_a_role_are_refused_before_any_call(fake, clients):
    fake.clear_requests()
    with pytest.raises(PermanentError, match="no workspace role"):
        KommanderAccessBackend(clients).grant(grant(role="", workspace_role=""))
    with pytest.raises(PermanentError, match="no cluster role"):
        RbacAccessBackend(clients).grant(grant(role="", cluster_role="", cluster_ref="shared"))
    assert fake.requests == []
