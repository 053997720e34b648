"""Integration tests: the real `kubernetes` client and kubectl against the fake API server."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from bot.demo.kube.apiserver import DEFAULT_CRD_DIR, FakeKubeApiServer
from tests.fakes.kube_client import api_client as new_api_client

CAPI = ("cluster.x-k8s.io", "v1beta2")
KOM = ("kommander.mesosphere.io", "v1beta1")
WS = ("workspaces.kommander.mesosphere.io", "v1alpha1")
needs_crds = pytest.mark.skipif(not DEFAULT_CRD_DIR.is_dir(), reason="../shared/crds is absent")


@pytest.fixture
def fake() -> Iterator[FakeKubeApiServer]:
    with FakeKubeApiServer() as server:
        yield server


@pytest.fixture
def api(fake: FakeKubeApiServer) -> Iterator[Any]:
    api_client = new_api_client(fake)
    yield api_client
    api_client.close()


def core_api(api: Any) -> Any:
    """The typed client APIs, as Any: their Optional-everywhere models only add noise here."""
    return client.CoreV1Api(api)


def rbac_api(api: Any) -> Any:
    return client.RbacAuthorizationV1Api(api)


def custom_api(api: Any) -> Any:
    return client.CustomObjectsApi(api)


def new_watch() -> Any:
    return watch.Watch()  # type: ignore[no-untyped-call]


def status_of(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body or "{}")
    assert body["kind"] == "Status"
    return body


def capi_cluster(name: str = "c1", namespace: str = "team-a", **spec: Any) -> dict[str, Any]:
    base_spec: dict[str, Any] = {
        "topology": {
            "classRef": {"name": "aws-eks"},
            "version": "v1.30.2",
            "controlPlane": {"replicas": 3},
            "workers": {"machineDeployments": [{"class": "default-worker", "name": "md-0"}]},
            "variables": [{"name": "region", "value": "eu-west-1"}],
        }
    }
    base_spec.update(spec)
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "Cluster",
        "metadata": {"name": name, "namespace": namespace, "labels": {"envbot/owner": "alice"}},
        "spec": base_spec,
    }


def make_ns(api: Any, name: str, labels: dict[str, str] | None = None) -> None:
    meta = client.V1ObjectMeta(name=name, labels=labels)
    core_api(api).create_namespace(client.V1Namespace(metadata=meta))


def make_cm(api: Any, namespace: str, name: str, labels: dict[str, str] | None = None) -> Any:
    body = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name, labels=labels), data={"k": "v"}
    )
    return core_api(api).create_namespaced_config_map(namespace, body)


# ---- core verbs ---------------------------------------------------------------------------
def test_namespace_lifecycle_and_defaults(api: Any) -> None:
    core = core_api(api)
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "kube-system"} <= names

    created = core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name="team-a", labels={"env": "dev"}))
    )
    assert created.status.phase == "Active"
    assert created.metadata.uid
    assert created.metadata.labels["kubernetes.io/metadata.name"] == "team-a"
    fetched = core.read_namespace("team-a")
    assert fetched.metadata.resource_version == created.metadata.resource_version

    core.delete_namespace("team-a")
    with pytest.raises(ApiException) as info:
        core.read_namespace("team-a")
    assert info.value.status == 404
    assert status_of(info.value)["reason"] == "NotFound"


def test_create_conflict_and_generate_name(api: Any) -> None:
    make_cm(api, "default", "one")
    with pytest.raises(ApiException) as info:
        make_cm(api, "default", "one")
    status = status_of(info.value)
    assert (info.value.status, status["reason"]) == (409, "AlreadyExists")
    assert status["details"] == {"name": "one", "kind": "configmaps"}

    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="gen-"))
    made = core_api(api).create_namespaced_config_map("default", body)
    assert made.metadata.name.startswith("gen-")
    assert len(made.metadata.name) == len("gen-") + 5


def test_namespaced_create_requires_existing_namespace(api: Any) -> None:
    with pytest.raises(ApiException) as info:
        make_cm(api, "nope", "cm")
    status = status_of(info.value)
    assert info.value.status == 404
    assert status["details"]["kind"] == "namespaces"
    assert status["message"] == 'namespaces "nope" not found'


def test_invalid_namespace_name_is_422(api: Any) -> None:
    with pytest.raises(ApiException) as info:
        make_ns(api, "Bad_Name")
    status = status_of(info.value)
    assert (info.value.status, status["reason"]) == (422, "Invalid")
    assert status["details"]["causes"][0]["field"] == "metadata.name"


def test_label_value_too_long_is_422(api: Any) -> None:
    with pytest.raises(ApiException) as info:
        make_cm(api, "default", "cm", labels={"a": "x" * 64})
    assert status_of(info.value)["details"]["causes"][0]["field"] == "metadata.labels"


def test_label_and_field_selectors(api: Any) -> None:
    make_ns(api, "ns2")
    make_cm(api, "default", "a", {"app": "bot", "tier": "web"})
    make_cm(api, "default", "b", {"app": "bot", "tier": "db"})
    make_cm(api, "default", "c", {"app": "other"})
    make_cm(api, "ns2", "d", {"app": "bot", "tier": "web"})
    core = core_api(api)

    def names(selector: str, namespace: str | None = "default", fields: str = "") -> list[str]:
        if namespace is None:
            items = core.list_config_map_for_all_namespaces(
                label_selector=selector, field_selector=fields
            ).items
        else:
            items = core.list_namespaced_config_map(
                namespace, label_selector=selector, field_selector=fields
            ).items
        return [item.metadata.name for item in items]

    assert names("app=bot") == ["a", "b"]
    assert names("app==bot,tier!=db") == ["a"]
    assert names("tier in (web, db)") == ["a", "b"]
    assert names("app,tier notin (web)") == ["b", "c"]  # notin matches a missing key
    assert names("tier") == ["a", "b"]
    assert names("!tier") == ["c"]
    assert names("tier=web", namespace=None) == ["a", "d"]
    assert names("", namespace=None, fields="metadata.namespace=ns2") == ["d"]
    assert names("", fields="metadata.name!=a") == ["b", "c"]
    with pytest.raises(ApiException) as info:
        names("", fields="spec.nodeName=x")
    assert info.value.status == 400


def test_list_metadata_and_pagination(api: Any, fake: FakeKubeApiServer) -> None:
    for name in ("p1", "p2", "p3"):
        make_cm(api, "default", name)
    core = core_api(api)
    first = core.list_namespaced_config_map("default", limit=2)
    assert [i.metadata.name for i in first.items] == ["p1", "p2"]
    assert first.metadata.remaining_item_count == 1
    rest = core.list_namespaced_config_map("default", limit=2, _continue=first.metadata._continue)
    assert [i.metadata.name for i in rest.items] == ["p3"]
    assert int(first.metadata.resource_version) >= int(rest.items[0].metadata.resource_version)
    assert fake.requests[-1].param("continue") == first.metadata._continue


def test_replace_with_stale_resource_version_conflicts(api: Any) -> None:
    core = core_api(api)
    cm = make_cm(api, "default", "cm")
    cm.data = {"k": "v2"}
    updated = core.replace_namespaced_config_map("cm", "default", cm)
    assert int(updated.metadata.resource_version) > int(cm.metadata.resource_version)

    cm.data = {"k": "stale"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("cm", "default", cm)
    assert (info.value.status, status_of(info.value)["reason"]) == (409, "Conflict")
    assert core.read_namespaced_config_map("cm", "default").data == {"k": "v2"}


def test_patch_kinds(api: Any) -> None:
    core = core_api(api)
    make_cm(api, "default", "cm", {"a": "1"})
    patched = core.patch_namespaced_config_map(
        "cm", "default", {"metadata": {"labels": {"a": None, "b": "2"}}, "data": {"x": "y"}}
    )
    assert patched.metadata.labels == {"b": "2"}
    assert patched.data == {"k": "v", "x": "y"}

    make_ns(api, "team-a")
    co = custom_api(api)
    co.create_namespaced_custom_object(*CAPI, "team-a", "clusters", capi_cluster())
    ops = [
        {"op": "add", "path": "/metadata/labels/extra", "value": "yes"},
        {"op": "replace", "path": "/spec/topology/version", "value": "v1.31.0"},
    ]
    result = co.patch_namespaced_custom_object(
        *CAPI, "team-a", "clusters", "c1", ops, _content_type="application/json-patch+json"
    )
    assert result["metadata"]["labels"]["extra"] == "yes"
    assert result["spec"]["topology"]["version"] == "v1.31.0"
    assert result["metadata"]["generation"] == 2

    with pytest.raises(ApiException) as info:
        co.patch_namespaced_custom_object(
            *CAPI,
            "team-a",
            "clusters",
            "c1",
            {"spec": {"paused": True}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert info.value.status == 415


# ---- RBAC -----------------------------------------------------------------------------------
def test_rbac_bindings(api: Any) -> None:
    rbac = rbac_api(api)
    ref = client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="edit")
    subject = client.RbacV1Subject(kind="User", name="a@example.com")
    body = client.V1RoleBinding(
        metadata=client.V1ObjectMeta(name="rb"), role_ref=ref, subjects=[subject]
    )
    made = rbac.create_namespaced_role_binding("default", body)
    assert made.role_ref.name == "edit"
    crb = client.V1ClusterRoleBinding(metadata=client.V1ObjectMeta(name="crb"), role_ref=ref)
    assert rbac.create_cluster_role_binding(crb).metadata.name == "crb"
    assert "cluster-admin" in {r.metadata.name for r in rbac.list_cluster_role().items}

    # The typed models refuse a roleRef without a name, so send the raw dict through the same URL.
    co = custom_api(api)
    broken: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "broken"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role"},
    }
    with pytest.raises(ApiException) as info:
        co.create_namespaced_custom_object(
            "rbac.authorization.k8s.io", "v1", "default", "rolebindings", broken
        )
    causes = status_of(info.value)["details"]["causes"]
    assert {
        "reason": "FieldValueRequired",
        "message": "Required value",
        "field": "roleRef.name",
    } in causes

    made.role_ref = client.V1RoleRef(
        api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"
    )
    with pytest.raises(ApiException) as info:
        rbac.replace_namespaced_role_binding("rb", "default", made)
    assert status_of(info.value)["details"]["causes"][0]["field"] == "roleRef"


# ---- CRDs -------------------------------------------------------------------------------------
@needs_crds
def test_capi_v1beta2_cluster_valid_and_malformed(api: Any, fake: FakeKubeApiServer) -> None:
    make_ns(api, "team-a")
    co = custom_api(api)
    made = co.create_namespaced_custom_object(*CAPI, "team-a", "clusters", capi_cluster())
    assert made["spec"]["topology"]["classRef"] == {"name": "aws-eks"}
    assert made["metadata"]["generation"] == 1

    bad = capi_cluster("c2")
    del bad["spec"]["topology"]["version"]
    bad["spec"]["topology"]["controlPlane"]["replicas"] = "three"
    with pytest.raises(ApiException) as info:
        co.create_namespaced_custom_object(*CAPI, "team-a", "clusters", bad)
    status = status_of(info.value)
    assert (info.value.status, status["reason"]) == (422, "Invalid")
    fields = {c["field"]: c["reason"] for c in status["details"]["causes"]}
    assert fields == {
        "spec.topology.version": "FieldValueRequired",
        "spec.topology.controlPlane.replicas": "FieldValueTypeInvalid",
    }
    assert status["message"].startswith('Cluster.cluster.x-k8s.io "c2" is invalid: [')

    v1beta1_shape = capi_cluster("c3")
    v1beta1_shape["spec"]["topology"] = {"class": "aws-eks", "version": "v1.30.2"}
    with pytest.raises(ApiException) as info:
        co.create_namespaced_custom_object(*CAPI, "team-a", "clusters", v1beta1_shape)
    assert "spec.topology.classRef" in {
        c["field"] for c in status_of(info.value)["details"]["causes"]
    }

    # The other served version returns the stored object with only apiVersion rewritten.
    old = co.get_namespaced_custom_object("cluster.x-k8s.io", "v1beta1", "team-a", "clusters", "c1")
    assert old["apiVersion"] == "cluster.x-k8s.io/v1beta1"
    assert old["spec"]["topology"]["classRef"] == {"name": "aws-eks"}
    assert fake.get_object(*CAPI, "clusters", "team-a", "c2") is None


@needs_crds
def test_unknown_fields_are_pruned_with_warning(api: Any, fake: FakeKubeApiServer) -> None:
    make_ns(api, "team-a")
    co = custom_api(api)
    body = capi_cluster(foo="bar")
    body["spec"]["topology"]["variables"][0]["value"] = {"nested": {"free": "form"}}
    data, code, headers = co.create_namespaced_custom_object_with_http_info(
        *CAPI, "team-a", "clusters", body
    )
    assert code == 201
    assert headers["Warning"] == '299 - "unknown field \\"spec.foo\\""'
    assert "foo" not in data["spec"]
    # `value` is x-kubernetes-preserve-unknown-fields, so it survives untouched.
    stored = fake.get_object(*CAPI, "clusters", "team-a", "c1")
    assert stored is not None
    assert stored["spec"]["topology"]["variables"][0]["value"] == {"nested": {"free": "form"}}

    strict = capi_cluster("c2", foo="bar")
    with pytest.raises(ApiException) as info:
        co.create_namespaced_custom_object(
            *CAPI, "team-a", "clusters", strict, field_validation="Strict"
        )
    assert info.value.status == 400


@needs_crds
def test_kommander_virtual_group_and_workspace_binding(api: Any, fake: FakeKubeApiServer) -> None:
    make_ns(api, "sandbox")
    co = custom_api(api)
    group: dict[str, Any] = {
        "apiVersion": "kommander.mesosphere.io/v1beta1",
        "kind": "VirtualGroup",
        "metadata": {"name": "sandbox"},
        "spec": {
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "a@example.com"}
            ]
        },
    }
    binding: dict[str, Any] = {
        "apiVersion": "workspaces.kommander.mesosphere.io/v1alpha1",
        "kind": "VirtualGroupWorkspaceRoleBinding",
        "metadata": {"name": "sandbox-admin", "namespace": "sandbox"},
        "spec": {
            "placement": {"clusterSelector": {}},
            "virtualGroupRef": {"name": "sandbox"},
            "workspaceRoleRef": {"name": "workspace-cluster-admin"},
        },
    }
    _, _, headers = co.create_cluster_custom_object_with_http_info(*KOM, "virtualgroups", group)
    assert "Warning" not in headers
    _, _, headers = co.create_namespaced_custom_object_with_http_info(
        *WS, "sandbox", "virtualgroupworkspacerolebindings", binding
    )
    assert "Warning" not in headers
    assert (
        fake.objects(*WS, "virtualgroupworkspacerolebindings", "sandbox")[0]["spec"]
        == binding["spec"]
    )

    missing: dict[str, Any] = json.loads(json.dumps(binding))
    missing["metadata"]["name"] = "missing"
    del missing["spec"]["workspaceRoleRef"]
    with pytest.raises(ApiException) as info:
        co.create_namespaced_custom_object(
            *WS, "sandbox", "virtualgroupworkspacerolebindings", missing
        )
    assert status_of(info.value)["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value",
            "field": "spec.workspaceRoleRef",
        }
    ]

    # spec.clusterRef.capiCluster is DKP 2.x: the 1.4.2 CRD prunes it unless allowed.
    kc: dict[str, Any] = {
        "apiVersion": "kommander.mesosphere.io/v1beta1",
        "kind": "KommanderCluster",
        "metadata": {"name": "c1", "namespace": "sandbox"},
        "spec": {
            "kubeconfigRef": {"name": "c1-kubeconfig"},
            "clusterRef": {"capiCluster": {"name": "c1"}},
        },
    }
    _, _, headers = co.create_namespaced_custom_object_with_http_info(
        *KOM, "sandbox", "kommanderclusters", kc
    )
    assert headers["Warning"] == '299 - "unknown field \\"spec.clusterRef.capiCluster\\""'
    fake.allow_unknown_fields(KOM[0], "kommanderclusters", "spec.clusterRef")
    kc["metadata"]["name"] = "c2"
    made = co.create_namespaced_custom_object(*KOM, "sandbox", "kommanderclusters", kc)
    assert made["spec"]["clusterRef"] == {"capiCluster": {"name": "c1"}}


def test_fallback_without_crd_dir_checks_required_fields_only() -> None:
    with FakeKubeApiServer(crd_dir=None) as fake:
        api_client = new_api_client(fake)
        try:
            co = custom_api(api_client)
            binding: dict[str, Any] = {
                "apiVersion": "workspaces.kommander.mesosphere.io/v1alpha1",
                "kind": "VirtualGroupKommanderClusterRoleBinding",
                "metadata": {"name": "b"},
                "spec": {"clusterRoleRef": {"name": "dkp-kommander-view"}, "extra": 1},
            }
            with pytest.raises(ApiException) as info:
                co.create_cluster_custom_object(
                    *WS, "virtualgroupkommanderclusterrolebindings", binding
                )
            assert status_of(info.value)["details"]["causes"][0]["field"] == "spec.virtualGroupRef"
            binding["spec"]["virtualGroupRef"] = {"name": "g"}
            made = co.create_cluster_custom_object(
                *WS, "virtualgroupkommanderclusterrolebindings", binding
            )
            assert made["spec"]["extra"] == 1
        finally:
            api_client.close()


# ---- status subresource, generation, finalizers ---------------------------------------------
def test_status_subresource_and_hooks(api: Any, fake: FakeKubeApiServer) -> None:
    make_ns(api, "team-a")
    co = custom_api(api)
    body = capi_cluster()
    body["status"] = {"phase": "Provisioned"}
    made = co.create_namespaced_custom_object(*CAPI, "team-a", "clusters", body)
    assert "status" not in made  # status is ignored on create with a status subresource

    after_status = co.patch_namespaced_custom_object_status(
        *CAPI,
        "team-a",
        "clusters",
        "c1",
        {"status": {"phase": "Provisioning"}, "spec": {"paused": True}},
    )
    assert after_status["status"] == {"phase": "Provisioning"}
    assert "paused" not in after_status["spec"]
    assert after_status["metadata"]["generation"] == 1

    # The main resource ignores status changes.
    main = co.patch_namespaced_custom_object(
        *CAPI, "team-a", "clusters", "c1", {"status": {"phase": "Failed"}, "spec": {"paused": True}}
    )
    assert main["status"] == {"phase": "Provisioning"}
    assert main["metadata"]["generation"] == 2

    fake.set_condition(*CAPI, "clusters", "team-a", "c1", "Available", "True", reason="Ready")
    got = co.get_namespaced_custom_object_status(*CAPI, "team-a", "clusters", "c1")
    condition = got["status"]["conditions"][0]
    assert (condition["type"], condition["status"], condition["observedGeneration"]) == (
        "Available",
        "True",
        2,
    )
    fake.set_status(*CAPI, "clusters", "team-a", "c1", {"phase": "Provisioned"})
    assert co.get_namespaced_custom_object(*CAPI, "team-a", "clusters", "c1")["status"] == {
        "phase": "Provisioned"
    }

    latest = co.get_namespaced_custom_object_status(*CAPI, "team-a", "clusters", "c1")
    replaced = dict(latest, status={"phase": "Deleting"})
    assert co.replace_namespaced_custom_object_status(*CAPI, "team-a", "clusters", "c1", replaced)[
        "status"
    ] == {"phase": "Deleting"}
    replaced["metadata"] = dict(replaced["metadata"], resourceVersion="1")
    with pytest.raises(ApiException) as info:
        co.replace_namespaced_custom_object_status(*CAPI, "team-a", "clusters", "c1", replaced)
    assert info.value.status == 409


def test_finalizers_delay_deletion_and_namespace_cascade(api: Any, fake: FakeKubeApiServer) -> None:
    make_ns(api, "team-a")
    co = custom_api(api)
    body = capi_cluster()
    body["metadata"]["finalizers"] = ["cluster.cluster.x-k8s.io"]
    co.create_namespaced_custom_object(*CAPI, "team-a", "clusters", body)
    make_cm(api, "team-a", "plain")

    deleted = co.delete_namespaced_custom_object(*CAPI, "team-a", "clusters", "c1")
    assert deleted["metadata"]["deletionTimestamp"]
    still = co.get_namespaced_custom_object(*CAPI, "team-a", "clusters", "c1")
    assert still["metadata"]["deletionTimestamp"] == deleted["metadata"]["deletionTimestamp"]

    core_api(api).delete_namespace("team-a")
    ns = core_api(api).read_namespace("team-a")
    assert ns.status.phase == "Terminating"
    assert fake.objects("", "v1", "configmaps", "team-a") == []
    with pytest.raises(ApiException) as info:
        make_cm(api, "team-a", "late")
    assert info.value.status == 403

    co.patch_namespaced_custom_object(
        *CAPI, "team-a", "clusters", "c1", {"metadata": {"finalizers": None}}
    )
    assert fake.get_object(*CAPI, "clusters", "team-a", "c1") is None
    assert fake.get_object("", "v1", "namespaces", None, "team-a") is None


def test_owner_references_are_garbage_collected(api: Any, fake: FakeKubeApiServer) -> None:
    make_ns(api, "team-a")
    owner = custom_api(api).create_namespaced_custom_object(
        *CAPI, "team-a", "clusters", capi_cluster()
    )
    ref = client.V1OwnerReference(
        api_version=owner["apiVersion"], kind="Cluster", name="c1", uid=owner["metadata"]["uid"]
    )
    secret = client.V1Secret(
        metadata=client.V1ObjectMeta(name="c1-kubeconfig", owner_references=[ref]),
        string_data={"value": "kubeconfig"},
        type="cluster.x-k8s.io/secret",
    )
    made = core_api(api).create_namespaced_secret("team-a", secret)
    assert made.data == {"value": "a3ViZWNvbmZpZw=="}
    fake.delete_object(*CAPI, "clusters", "team-a", "c1")
    assert fake.objects("", "v1", "secrets", "team-a") == []


# ---- failure injection, auth, watch ------------------------------------------------------------
def test_injected_errors(api: Any, fake: FakeKubeApiServer) -> None:
    core = core_api(api)
    fake.inject_error("GET", "/api/v1/namespaces/default", 503, "ServiceUnavailable")
    with pytest.raises(ApiException) as info:
        core.read_namespace("default")
    assert info.value.status == 503
    assert core.read_namespace("default").metadata.name == "default"

    fake.inject_error("POST", "/configmaps", 429, "TooManyRequests", times=2, retry_after=3)
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            make_cm(api, "default", "cm")
        assert info.value.status == 429
        assert (info.value.headers or {})["Retry-After"] == "3"
        assert status_of(info.value)["details"] == {"retryAfterSeconds": 3}
    assert make_cm(api, "default", "cm").metadata.name == "cm"

    fake.inject_error(
        "*", lambda r: r.param("labelSelector") == "deny=1", 403, "Forbidden", times=None
    )
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            core.list_namespace(label_selector="deny=1")
        assert info.value.status == 403
    posts = [r for r in fake.requests if r.method == "POST" and r.path.endswith("/configmaps")]
    assert len(posts) == 3
    assert posts[-1].body["metadata"]["name"] == "cm"


def test_requests_without_token_are_401(fake: FakeKubeApiServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{fake.url}/api/v1/namespaces", timeout=5)  # noqa: S310 - loopback
    assert info.value.code == 401
    assert json.loads(info.value.read())["reason"] == "Unauthorized"


def test_watch_streams_existing_and_new_objects(api: Any) -> None:
    make_cm(api, "default", "first")
    core = core_api(api)

    def create_later() -> None:
        time.sleep(0.3)
        make_cm(api, "default", "second")

    thread = threading.Thread(target=create_later)
    thread.start()
    seen: list[tuple[str, str]] = []
    stream = new_watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=3)
    for event in stream:
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            break
    thread.join()
    assert seen == [("ADDED", "first"), ("ADDED", "second")]


# ---- kubectl ------------------------------------------------------------------------------------
@pytest.fixture
def kubectl(tmp_path: Path) -> Iterator[tuple[FakeKubeApiServer, Any]]:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed")
    with FakeKubeApiServer(tls=True) as server:  # kubectl sends bearer tokens only over TLS
        kubeconfig = server.write_kubeconfig(tmp_path / "kubeconfig")

        def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
            command = [
                binary,
                "--kubeconfig",
                str(kubeconfig),
                "--cache-dir",
                str(tmp_path / "cache"),
                *args,
            ]
            return subprocess.run(
                command, capture_output=True, text=True, input=stdin, timeout=60, check=False
            )

        yield server, run


def test_kubectl_get_apply_delete(kubectl: tuple[FakeKubeApiServer, Any]) -> None:
    fake, run = kubectl
    result = run("get", "namespaces")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0].split() == ["NAME", "STATUS", "AGE"]
    assert "kube-system" in result.stdout

    manifest = """
apiVersion: v1
kind: Namespace
metadata: {name: team-a}
---
apiVersion: cluster.x-k8s.io/v1beta2
kind: Cluster
metadata: {name: c1, namespace: team-a}
spec:
  topology: {classRef: {name: aws-eks}, version: v1.30.2}
"""
    applied = run("apply", "--validate=false", "-f", "-", stdin=manifest)
    assert applied.returncode == 0, applied.stderr
    assert "cluster.cluster.x-k8s.io/c1 created" in applied.stdout
    again = run("apply", "--validate=false", "-f", "-", stdin=manifest)
    assert "cluster.cluster.x-k8s.io/c1 unchanged" in again.stdout, again.stderr

    listed = run("get", "clusters.cluster.x-k8s.io", "-A")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split("\n")[1].split()[:2] == ["team-a", "c1"]
    as_json = json.loads(run("get", "cl", "-n", "team-a", "c1", "-o", "json").stdout)
    assert as_json["spec"]["topology"]["version"] == "v1.30.2"

    deleted = run("delete", "cluster.cluster.x-k8s.io", "c1", "-n", "team-a")
    assert deleted.returncode == 0, deleted.stderr
    assert fake.objects(*CAPI, "clusters") == []
