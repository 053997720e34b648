"""Ownership against the fake API server with the real `kubernetes` client: what envbot does not
own (another tool's object, another install's, an object replaced after it was read) is never
changed or deleted; what it owns from before install ids is adopted only for the same env id.

Each case snapshots the objects (uid, resourceVersion, labels) before and after, so a test fails
on any write to them, not only on a delete."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.demo.kube.http import RecordedRequest
from bot.errors import NameTaken
from provisioning.base import Phase
from provisioning.kube.capi import CapiBackend
from provisioning.kube.client import NAMESPACE, KubeClients
from provisioning.kube.kommander import KommanderAccessBackend
from provisioning.kube.namespace import NamespaceBackend
from provisioning.kube.rbac import RbacAccessBackend
from tests.fakes.kube_client import api_client
from tests.integration.test_kube_backends import add_clusterclass, env, grant, ns_env

CLUSTERS = ("cluster.x-k8s.io", "v1beta1", "clusters")
KCS = ("kommander.mesosphere.io", "v1beta1", "kommanderclusters")
NAMESPACES = ("", "v1", "namespaces")
ROLE_BINDINGS = ("rbac.authorization.k8s.io", "v1", "rolebindings")
TAKEN = "the name `prod-db` is taken by something envbot does not own; pick another name"
Snapshot = dict[str, tuple[str, str, dict[str, str]]]


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
    add_clusterclass(kube, "sandbox")  # create() checks the topology's variables against it
    yield kube
    kube.close()


def snapshot(fake: FakeKubeApiServer, *where: tuple[tuple[str, str, str], str | None]) -> Snapshot:
    """uid, resourceVersion and labels of every object of the given kinds and namespaces."""
    found: Snapshot = {}
    for gvp, ns in where:
        for obj in fake.objects(*gvp, ns):
            m = obj["metadata"]
            key = f"{gvp[2]}/{m.get('namespace', '')}/{m['name']}"
            found[key] = (m["uid"], m["resourceVersion"], dict(m.get("labels") or {}))
    return found


def writes(fake: FakeKubeApiServer) -> list[tuple[str, str]]:
    """Every write request since the last clear, as (method, path)."""
    return [(r.method, r.path) for r in fake.requests if r.method != "GET"]


def before(fake: FakeKubeApiServer, method: str, path_end: str, action: Callable[[], None]) -> None:
    """Run `action` once, just before the server handles the first `method` on a path ending
    in `path_end`: another writer acting between envbot's read and its write."""
    done: list[bool] = []

    def hook(request: RecordedRequest) -> bool:
        if not done and request.method == method and request.path.endswith(path_end):
            done.append(True)
            action()
        return False  # never answers instead of the server

    fake.inject_error("*", hook, 500, "unused", times=None)


def foreign_cluster(fake: FakeKubeApiServer, name: str, labels: dict[str, str]) -> None:
    meta = {"name": name, "namespace": "sandbox", "labels": labels}
    fake.put_object(*CLUSTERS, {"kind": "Cluster", "metadata": meta, "spec": {"paused": False}})
    fake.put_object(
        *KCS,
        {"kind": "KommanderCluster", "metadata": meta, "spec": {"kubeconfigRef": {"name": "x"}}},
    )


MGMT = ((CLUSTERS, "sandbox"), (KCS, "sandbox"))


# ---- the fake enforces what a real API server enforces -------------------------------------


def test_the_fake_refuses_stale_preconditions_and_resource_versions(fake):
    # setup: the real client, a namespace and a Cluster
    api = api_client(fake)
    core: Any = k8s.CoreV1Api(api)  # plain dicts in, as envbot sends them
    custom: Any = k8s.CustomObjectsApi(api)
    ns = core.create_namespace({"metadata": {"name": "payments"}})
    foreign_cluster(fake, "prod-db", {})
    cluster = custom.get_namespaced_custom_object(*CLUSTERS[:2], "sandbox", "clusters", "prod-db")
    uid, rv = ns.metadata.uid, ns.metadata.resource_version

    def refused(call: Callable[[], Any]) -> tuple[int, str]:
        with pytest.raises(ApiException) as info:
            call()
        return info.value.status, json.loads(info.value.body or "{}")["message"]

    # execution
    wrong_uid = refused(
        lambda: core.delete_namespace(
            "payments", body=k8s.V1DeleteOptions(preconditions=k8s.V1Preconditions(uid="u-other"))
        )
    )
    stale_rv = refused(
        lambda: core.delete_namespace(
            "payments",
            body=k8s.V1DeleteOptions(preconditions=k8s.V1Preconditions(resource_version="1")),
        )
    )
    stale_patch = refused(
        lambda: core.patch_namespace(
            "payments", {"metadata": {"resourceVersion": "1", "labels": {"a": "b"}}}
        )
    )
    wrong_cr = refused(
        lambda: custom.delete_namespaced_custom_object(
            *CLUSTERS[:2],
            "sandbox",
            "clusters",
            "prod-db",
            body=k8s.V1DeleteOptions(preconditions=k8s.V1Preconditions(uid="u-other")),
        )
    )

    # validating: 409 with the real messages, and nothing changed
    assert wrong_uid[0] == stale_rv[0] == stale_patch[0] == wrong_cr[0] == 409
    conflict = 'Operation cannot be fulfilled on namespaces "payments": '
    assert wrong_uid[1] == (
        f"{conflict}Precondition failed: UID in precondition: u-other, UID in object meta: {uid}"
    )
    assert stale_rv[1] == (
        f"{conflict}Precondition failed: ResourceVersion in precondition: 1, ResourceVersion in "
        f"object meta: {rv}"
    )
    assert stale_patch[1] == (
        f"{conflict}the object has been modified; please apply your changes to the latest "
        "version and try again"
    )
    assert wrong_cr[1] == (
        'Operation cannot be fulfilled on clusters.cluster.x-k8s.io "prod-db": Precondition '
        f"failed: UID in precondition: u-other, UID in object meta: {cluster['metadata']['uid']}"
    )
    assert core.read_namespace("payments").metadata.resource_version == rv


# ---- foreign objects under the environment's name -----------------------------------------


def test_a_foreign_cluster_survives_create_delete_and_retry(fake, clients):
    # setup: prod-db exists, made by another tool (no envbot labels at all)
    foreign_cluster(fake, "prod-db", {"app.kubernetes.io/managed-by": "someone"})
    backend = CapiBackend(clients)
    spec = env(name="prod-db")
    was = snapshot(fake, *MGMT)
    fake.clear_requests()

    # execution: create (fails), Delete now, then Retry
    with pytest.raises(NameTaken) as failed:
        backend.create(spec)
    backend.delete(spec)
    seen = backend.observe([spec])["e1"]
    with pytest.raises(NameTaken):
        backend.create(spec)

    # validating: refused before any write; the objects are as they were; the env sees none
    assert str(failed.value) == TAKEN
    assert writes(fake) == []
    assert snapshot(fake, *MGMT) == was
    assert len(was) == 2
    assert (seen.phase, seen.exists) == (Phase.DELETED, False)


def test_another_installs_cluster_of_the_same_name_and_id_is_not_seen_or_touched(fake, clients):
    # setup: install B made env e1 `prod-db` (ids are per database, so they can collide)
    labels = {"envbot.io/managed": "true", "envbot.io/env-id": "e1", "envbot.io/install-id": "b"}
    foreign_cluster(fake, "prod-db", labels)
    backend = CapiBackend(clients)
    spec = env(name="prod-db")  # install inst-a
    was = snapshot(fake, *MGMT)
    fake.clear_requests()

    # execution
    with pytest.raises(NameTaken) as failed:
        backend.create(spec)
    seen = backend.observe([spec], expected_ready=True)["e1"]
    backend.delete(spec)

    # validating
    assert "belongs to another envbot install (envbot.io/install-id='b'" in failed.value.detail
    assert writes(fake) == []
    assert snapshot(fake, *MGMT) == was
    assert (seen.phase, seen.exists, seen.drift) == (Phase.DELETED, False, "")


def test_a_foreign_namespace_survives_create_delete_and_retry(fake, clients):
    # setup: the namespace payments belongs to a team, with a RoleBinding of theirs in it
    fake.put_object(*NAMESPACES, {"kind": "Namespace", "metadata": {"name": "payments"}})
    binding = {
        "kind": "RoleBinding",
        "metadata": {"name": "envbot-owner", "namespace": "payments"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "x"},
        "subjects": [{"kind": "User", "name": "payments-team@example.com"}],
    }
    fake.put_object(*ROLE_BINDINGS, binding)
    backend = NamespaceBackend(clients)
    spec = replace(ns_env(), name="payments", namespace="payments")
    where = ((NAMESPACES, None), (ROLE_BINDINGS, "payments"))
    was = snapshot(fake, *where)
    fake.clear_requests()

    # execution
    with pytest.raises(NameTaken, match="the name `payments` is taken"):
        backend.create(spec)
    backend.delete(spec)
    seen = backend.observe([spec])["n1"]
    with pytest.raises(NameTaken):
        backend.create(spec)

    # validating
    assert writes(fake) == []
    assert snapshot(fake, *where) == was
    assert (seen.phase, seen.exists) == (Phase.DELETED, False)


# ---- check, then act on exactly what was checked ------------------------------------------


def test_an_object_replaced_between_read_and_delete_survives(fake, clients):
    # setup: our Cluster; someone replaces it with theirs between our read and our delete
    backend = CapiBackend(clients)
    spec = env()
    backend.create(spec)
    ours = fake.get_object(*CLUSTERS, "sandbox", "dev-1")
    assert ours is not None

    def replace() -> None:
        fake.delete_object(*CLUSTERS, "sandbox", "dev-1")
        meta = {"name": "dev-1", "namespace": "sandbox", "labels": {"team": "payments"}}
        fake.put_object(*CLUSTERS, {"kind": "Cluster", "metadata": meta, "spec": {}})

    before(fake, "DELETE", "/clusters/dev-1", replace)
    fake.clear_requests()

    # execution
    backend.delete(spec)

    # validating: our delete named our uid, was refused, and the re-read saw it is not ours
    theirs = fake.get_object(*CLUSTERS, "sandbox", "dev-1")
    assert theirs is not None
    assert theirs["metadata"]["uid"] != ours["metadata"]["uid"]
    assert theirs["metadata"]["labels"] == {"team": "payments"}
    deletes = [r for r in fake.requests if r.method == "DELETE" and "/clusters/" in r.path]
    assert len(deletes) == 1
    assert deletes[0].body["preconditions"] == {
        "uid": ours["metadata"]["uid"],
        "resourceVersion": ours["metadata"]["resourceVersion"],
    }
    assert fake.get_object(*KCS, "sandbox", "dev-1") is None  # ours, deleted
    assert backend.observe([spec])["e1"].exists is False


def test_an_object_changed_between_read_and_delete_is_read_and_checked_again(fake, clients):
    # setup: CAPI writes the Cluster's status between our read and our delete
    backend = CapiBackend(clients)
    spec = env()
    backend.create(spec)
    before(
        fake,
        "DELETE",
        "/clusters/dev-1",
        lambda: fake.set_status(*CLUSTERS, "sandbox", "dev-1", {"phase": "Provisioned"}),
    )
    fake.clear_requests()

    # execution
    backend.delete(spec)

    # validating: the first delete was refused (stale resourceVersion), the second went through
    deletes = [r for r in fake.requests if r.method == "DELETE" and "/clusters/" in r.path]
    versions = [r.body["preconditions"]["resourceVersion"] for r in deletes]
    assert len(versions) == 2
    assert versions[0] != versions[1]
    assert fake.get_object(*CLUSTERS, "sandbox", "dev-1") is None


def test_an_update_carries_the_resource_version_read_and_retries_a_conflict(fake, clients):
    # setup: a namespace environment handed to bob; the binding changes under the update
    backend = NamespaceBackend(clients)
    backend.create(ns_env())
    before(
        fake,
        "PATCH",
        "/rolebindings/envbot-owner",
        lambda: fake.store.mutate(
            fake.resource_type(*ROLE_BINDINGS),
            "alice-dev",
            "envbot-owner",
            lambda obj: obj["metadata"].setdefault("annotations", {}).update(seen="yes"),
        ),
    )
    fake.clear_requests()

    # execution
    backend.create(ns_env(owner_email="bob@example.com"))

    # validating: two patches of the binding, each with the version it read; the second applied
    # (the namespace's owner label is patched too, once, with its own resourceVersion)
    every = [r for r in fake.requests if r.method == "PATCH"]
    assert all(p.body["metadata"]["resourceVersion"] for p in every)
    patches = [r for r in every if "/rolebindings/" in r.path]
    assert [bool(p.body["metadata"]["resourceVersion"]) for p in patches] == [True, True]
    assert (
        patches[0].body["metadata"]["resourceVersion"]
        != (patches[1].body["metadata"]["resourceVersion"])
    )
    bound = fake.get_object(*ROLE_BINDINGS, "alice-dev", "envbot-owner")
    assert bound is not None
    assert [s["name"] for s in bound["subjects"]] == ["bob@example.com"]


# ---- two installs, and objects from before install ids ------------------------------------


def test_a_second_install_on_the_same_cluster_keeps_its_objects(fake, clients):
    # setup: install A has an environment and grants; install B's rows happen to share the ids
    a_env, a_grant = env(), grant()
    b_env, b_grant = env(install_id="inst-b"), grant(install_id="inst-b")
    b_rbac = grant("g2", install_id="inst-b", cluster_role="view", cluster_ref="shared")
    CapiBackend(clients).create(a_env)
    KommanderAccessBackend(clients).grant(a_grant)
    RbacAccessBackend(clients).grant(grant("g2", cluster_role="view", cluster_ref="shared"))
    kinds = (
        *MGMT,
        (("kommander.mesosphere.io", "v1beta1", "virtualgroups"), None),
        (
            ("workspaces.kommander.mesosphere.io", "v1alpha1", "virtualgroupworkspacerolebindings"),
            "sandbox",
        ),
        (ROLE_BINDINGS, "sandbox"),
    )
    was = snapshot(fake, *kinds)
    fake.clear_requests()

    # execution: everything install B could do under those names
    capi_b, kom_b, rbac_b = (
        CapiBackend(clients),
        KommanderAccessBackend(clients),
        RbacAccessBackend(clients),
    )
    with pytest.raises(NameTaken):
        capi_b.create(b_env)
    seen = capi_b.observe([b_env], expected_ready=True)["e1"]
    capi_b.delete(b_env)
    with pytest.raises(Exception, match="another envbot install"):
        kom_b.grant(b_grant)
    drift = kom_b.drifted([b_grant])
    kom_b.revoke(b_grant)
    rbac_b.revoke(b_rbac)

    # validating: A's objects are untouched (B's grant got as far as a create the server
    # refused as AlreadyExists); B sees none of them as its own
    assert writes(fake) == [("POST", "/apis/kommander.mesosphere.io/v1beta1/virtualgroups")]
    assert snapshot(fake, *kinds) == was
    assert len(was) == 5
    assert seen.exists is False
    assert "VirtualGroup envbot-g1 is missing" in drift["g1"]


def test_objects_from_before_install_ids_are_adopted_only_for_the_same_env_id(fake, clients):
    # setup: Cluster dev-1 (env e1) and prod-db (env e7) were made before install ids
    legacy = {"envbot.io/managed": "true", "envbot.io/env-id": "e1"}
    foreign_cluster(fake, "dev-1", legacy)
    foreign_cluster(fake, "prod-db", {**legacy, "envbot.io/env-id": "e7"})
    backend = CapiBackend(clients)
    was = snapshot(fake, *MGMT)

    # execution
    backend.create(env())  # e1, this database's row for dev-1
    with pytest.raises(NameTaken, match="prod-db"):
        backend.create(env("e8", "prod-db"))  # e7 is not e8
    backend.delete(env("e8", "prod-db"))

    # validating: dev-1 adopted in place (same uid, install-id added); prod-db untouched
    now = snapshot(fake, *MGMT)
    for kind in ("clusters", "kommanderclusters"):
        uid, _, labels = now[f"{kind}/sandbox/dev-1"]
        assert uid == was[f"{kind}/sandbox/dev-1"][0]
        assert labels["envbot.io/install-id"] == "inst-a"
        assert now[f"{kind}/sandbox/prod-db"] == was[f"{kind}/sandbox/prod-db"]
    assert backend.observe([env()])["e1"].exists is True

    # execution: the adopted objects are ours to delete
    backend.delete(env())
    assert fake.get_object(*CLUSTERS, "sandbox", "dev-1") is None
    assert fake.get_object(*CLUSTERS, "sandbox", "prod-db") is not None
