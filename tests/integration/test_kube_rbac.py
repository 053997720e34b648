"""The fake API server enforcing the shipped RBAC (deploy/*.yaml) against the real `kubernetes`
client: 403s worded as kube-apiserver words them, the verbs of each HTTP method, the RBAC
escalation check on bindings, and the namespace backend's flows under deploy/target-cluster."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.demo.kube.authz import ENVBOT_USER, Access, Authorizer
from bot.demo.kube.capi import clusterclass, quick_start_variables
from bot.demo.kube.schema import PRESERVE
from bot.errors import PermanentError
from provisioning.base import EnvSpec, GrantSpec, Phase
from provisioning.kube.capi import CapiBackend
from provisioning.kube.client import KubeClients
from provisioning.kube.kommander import KommanderAccessBackend
from provisioning.kube.namespace import NamespaceBackend
from provisioning.kube.rbac import RbacAccessBackend
from tests.fakes.kube_client import api_client
from tests.integration.test_cluster_templates_kube import manifests_env
from tests.integration.test_kube_backends import env as cluster_env
from tests.integration.test_kube_backends import grant as kommander_grant

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TARGET_RBAC = DEPLOY / "target-cluster" / "rbac.yaml"
MANAGEMENT_RBAC = DEPLOY / "rbac.yaml"
RBAC_GROUP = "rbac.authorization.k8s.io"
EXPIRES = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)


def serve(authorizer: Authorizer) -> FakeKubeApiServer:
    server = FakeKubeApiServer(authorizer=authorizer)
    for name in ("sandbox", "production", "team-a"):
        server.put_object("", "v1", "namespaces", {"metadata": {"name": name}})
    return server


@pytest.fixture
def target() -> Iterator[FakeKubeApiServer]:
    with serve(Authorizer.from_manifests(TARGET_RBAC)) as server:
        yield server


@pytest.fixture
def management() -> Iterator[FakeKubeApiServer]:
    with serve(Authorizer.from_manifests(MANAGEMENT_RBAC)) as server:
        # the ClusterClass cluster_env() names (an operator's object: envbot only reads it)
        tags = {
            "name": "tags",
            "required": False,
            "schema": {"openAPIV3Schema": {"type": "object", **PRESERVE}},
        }
        server.put_object(
            "cluster.x-k8s.io",
            "v1beta1",
            "clusterclasses",
            clusterclass("aws-default", "sandbox", quick_start_variables(tags)),
        )
        yield server


def kube_clients(server: FakeKubeApiServer, tmp_path: Path) -> KubeClients:
    config = server.write_kubeconfig(tmp_path / "kubeconfig", context="shared")
    return KubeClients(str(config), "shared", clusters={"shared": "shared"})


def api_error(call: Any) -> dict[str, Any]:
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == 403
    body: dict[str, Any] = json.loads(str(caught.value.body))
    return body


def ns_env(**changes: Any) -> EnvSpec:
    base = EnvSpec(
        env_id="n1",
        name="alice-dev",
        workspace="team-a",
        namespace="alice-dev",
        template="namespace-small",
        owner_id="U012AB3CD",
        owner_email="Alice.Smith@example.com",
        expires_at=EXPIRES,
        cluster_ref="shared",
        role="edit",
        quota={"requests.cpu": "4", "pods": "20"},
        limit_range={"default": {"cpu": "1"}, "defaultRequest": {"cpu": "100m"}},
        install_id="inst-a",
    )
    return EnvSpec(**{**base.__dict__, **changes})


# ---- the authorizer's answers ------------------------------------------------------------


def test_denied_request_is_the_api_servers_forbidden_status(target):
    # setup
    core = k8s.CoreV1Api(api_client(target))

    # execution: envbot may not read secrets, namespaced or across the cluster
    named = api_error(lambda: core.read_namespaced_secret("db", "team-a"))
    listed = api_error(lambda: core.list_secret_for_all_namespaces())

    # validating: kube-apiserver's Forbidden wording and Status details
    assert named == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'secrets "db" is forbidden: User "system:serviceaccount:envbot:envbot" cannot '
        'get resource "secrets" in API group "" in the namespace "team-a"',
        "reason": "Forbidden",
        "details": {"name": "db", "kind": "secrets"},
        "code": 403,
    }
    assert listed["message"] == (
        f'secrets is forbidden: User "{ENVBOT_USER}" cannot list resource "secrets" in API group '
        '"" at the cluster scope'
    )
    assert listed["details"] == {"kind": "secrets"}
    assert target.get_object("", "v1", "secrets", "team-a", "db") is None


def test_http_methods_map_to_rbac_verbs(target):
    # setup: the target rules grant no watch, update or deletecollection on rolebindings
    rbac = k8s.RbacAuthorizationV1Api(api_client(target))
    binding = k8s.V1RoleBinding(
        metadata=k8s.V1ObjectMeta(name="b"),
        role_ref=k8s.V1RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name="view"),
        subjects=[k8s.RbacV1Subject(api_group=RBAC_GROUP, kind="User", name="x@example.com")],
    )

    # execution
    rbac.create_namespaced_role_binding("team-a", binding)
    rbac.list_namespaced_role_binding("team-a")
    rbac.read_namespaced_role_binding("b", "team-a")
    rbac.patch_namespaced_role_binding("b", "team-a", {"metadata": {"labels": {"a": "b"}}})
    watch = api_error(lambda: rbac.list_namespaced_role_binding("team-a", watch=True))
    update = api_error(lambda: rbac.replace_namespaced_role_binding("b", "team-a", binding))
    collection = api_error(lambda: rbac.delete_collection_namespaced_role_binding("team-a"))
    rbac.delete_namespaced_role_binding("b", "team-a")

    # validating
    assert "cannot watch resource" in watch["message"]
    assert "cannot update resource" in update["message"]
    assert "cannot deletecollection resource" in collection["message"]
    verbs = {a.verb for a in target.authorizer.used if a.resource == "rolebindings"}
    assert verbs == {"create", "list", "get", "patch", "delete"}
    assert Access("bind", RBAC_GROUP, "clusterroles", "", "team-a") in target.authorizer.used


def test_binding_a_role_without_bind_or_its_rights_is_an_escalation(target):
    # setup: cluster-admin is not in the bind list, and envbot does not hold `*` on `*`
    rbac = k8s.RbacAuthorizationV1Api(api_client(target))
    binding = k8s.V1RoleBinding(
        metadata=k8s.V1ObjectMeta(name="root"),
        role_ref=k8s.V1RoleRef(api_group=RBAC_GROUP, kind="ClusterRole", name="cluster-admin"),
        subjects=[k8s.RbacV1Subject(api_group=RBAC_GROUP, kind="User", name="x@example.com")],
    )

    # execution
    refused = api_error(lambda: rbac.create_namespaced_role_binding("team-a", binding))

    # validating: the RBAC registry's wording, and nothing was stored
    assert refused["message"] == (
        f'rolebindings.{RBAC_GROUP} "root" is forbidden: user "{ENVBOT_USER}" '
        '(groups=["system:serviceaccounts" "system:serviceaccounts:envbot" '
        '"system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}'
    )
    assert refused["details"] == {"name": "root", "group": RBAC_GROUP, "kind": "rolebindings"}
    assert target.get_object(RBAC_GROUP, "v1", "rolebindings", "team-a", "root") is None


def test_workspace_rules_hold_only_in_the_bound_namespaces(management):
    # setup
    custom = k8s.CustomObjectsApi(api_client(management))

    # execution
    custom.list_namespaced_custom_object("cluster.x-k8s.io", "v1beta1", "sandbox", "clusters")
    other = api_error(
        lambda: custom.list_namespaced_custom_object(
            "cluster.x-k8s.io", "v1beta1", "team-a", "clusters"
        )
    )

    # validating
    assert other["message"] == (
        f'clusters.cluster.x-k8s.io is forbidden: User "{ENVBOT_USER}" cannot list resource '
        '"clusters" in API group "cluster.x-k8s.io" in the namespace "team-a"'
    )


# ---- the namespace backend under deploy/target-cluster/rbac.yaml --------------------------


def test_namespace_create_transfer_delete_under_the_shipped_rbac(target, tmp_path):
    # setup
    backend = NamespaceBackend(kube_clients(target, tmp_path))
    spec = ns_env()
    heir = ns_env(owner_id="U0BOB", owner_email="Bob@Example.com")

    # execution: create, observe, transfer (the owner binding's subjects change), delete
    backend.create(spec)
    ready = backend.observe([spec])["n1"]
    backend.create(heir)
    after = backend.observe([heir])["n1"]
    backend.delete(heir)

    # validating: no 403 anywhere, the binding names the heir exactly as given
    assert target.authorizer.denied == []
    assert ready.phase is Phase.READY
    assert after.phase is Phase.READY
    assert after.drift == ""
    used = {(a.verb, a.resource) for a in target.authorizer.used}
    assert ("patch", "rolebindings") in used
    assert ("bind", "clusterroles") in used
    assert ("create", "limitranges") in used
    assert target.get_object("", "v1", "namespaces", None, "alice-dev") is None


def test_transfer_is_refused_without_patch_on_rolebindings(tmp_path):
    # setup: the shipped rules minus `patch` on rolebindings (the state before this fix)
    authorizer = Authorizer.from_manifests(TARGET_RBAC)
    authorizer.cluster_rules = [
        type(r)(r.api_groups, r.resources, tuple(v for v in r.verbs if v != "patch"))
        if "rolebindings" in r.resources
        else r
        for r in authorizer.cluster_rules
    ]
    with serve(authorizer) as server:
        backend = NamespaceBackend(kube_clients(server, tmp_path))
        backend.create(ns_env())

        # execution
        with pytest.raises(PermanentError) as refused:
            backend.create(ns_env(owner_email="bob@example.com"))

    # validating
    assert "cannot patch resource" in str(refused.value)


def test_rbac_grant_and_revoke_under_the_shipped_rbac(target, tmp_path):
    # setup
    backend = RbacAccessBackend(kube_clients(target, tmp_path))
    spec = GrantSpec(
        grant_id="g1",
        subject="Alice.Smith@example.com",
        workspace="team-a",
        namespace="team-a",
        role="edit",
        expires_at=EXPIRES,
        cluster_role="edit",
        cluster_ref="shared",
        install_id="inst-a",
    )

    # execution
    backend.grant(spec)
    drift = backend.drifted([spec])
    backend.revoke(spec)

    # validating
    assert target.authorizer.denied == []
    assert drift == {}
    assert target.get_object(RBAC_GROUP, "v1", "rolebindings", "team-a", "envbot-g1") is None


# ---- the management backends under deploy/rbac.yaml ----------------------------------------


def test_capi_and_kommander_flows_under_the_shipped_management_rbac(management, tmp_path):
    # setup
    clients = kube_clients(management, tmp_path)
    capi = CapiBackend(clients, api_version="v1beta1")
    kommander = KommanderAccessBackend(clients)
    spec = cluster_env()
    access = kommander_grant()

    # execution: create, observe, transfer, delete; grant, drift check, revoke
    capi.create(spec)
    capi.observe([spec])
    capi.create(cluster_env(owner_id="U0BOB", owner_email="Bob@Example.com"))
    capi.delete(spec)
    rendered = manifests_env()  # the example DKP template's whole object set, then an extension
    capi.create(rendered)
    capi.create(manifests_env(expires_at=rendered.expires_at.replace(day=9)))
    kommander.grant(access)
    drift = kommander.drifted([access])
    kommander.revoke(access)

    # validating: nothing was refused, and every access stayed in the workspace namespace or
    # on the cluster-scoped Kommander kinds
    assert management.authorizer.denied == []
    assert drift == {}
    namespaces = {a.namespace for a in management.authorizer.used}
    assert namespaces == {"sandbox", None}
