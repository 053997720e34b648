"""Every flow envbot runs with its own identity on a Kubernetes cluster, as a function of a
`World` (the fake API servers, RBAC-enforcing, and the real `kubernetes` client). Each flow also
checks it did what it is for, so a flow that silently does nothing cannot pass as coverage.

The test driving these (tests/integration/test_rbac_coverage.py) records what each flow was
allowed to do and compares it with what deploy/rbac.yaml and deploy/target-cluster/rbac.yaml grant.
Objects made with `put_object`/`set_status`/`mutate` stand for other actors (CAPI, Kommander, an
operator) and bypass RBAC; everything envbot does goes through the backends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.db import migrate
from bot.demo.fake_slack import FakeSlack
from bot.doctor import run_checks
from bot.domain.clock import ManualClock
from provisioning.base import ClusterManifests, EnvSpec, GrantSpec, Phase
from provisioning.kube import labels as lbl
from provisioning.kube.capi import (
    KOMMANDER_CLUSTER,
    CapiBackend,
    cluster_manifest,
    env_annotations,
    env_labels,
    kommander_cluster_manifest,
)
from provisioning.kube.client import KubeClients, Resource
from provisioning.kube.kommander import ALL_KINDS, KommanderAccessBackend, plan
from provisioning.kube.namespace import NamespaceBackend, manifests
from provisioning.kube.rbac import RbacAccessBackend, binding
from provisioning.kube.templates import aws_tags, render_manifests
from tests import capi_stages as st
from tests.fakes.kube_apiserver import FakeKubeApiServer
from tests.fakes.kube_capi import TAGS_VARIABLE, clusterclass, quick_start_variables
from tests.fakes.kube_schema import PRESERVE
from tests.integration.test_cluster_templates_kube import TEMPLATE, VARIABLES, manifests_env
from tests.integration.test_kube_backends import env as cluster_env
from tests.integration.test_kube_backends import grant as kommander_grant
from tests.integration.test_kube_rbac import EXPIRES, ns_env

MANAGEMENT, TARGET = "management", "target"
ROOT = Path(__file__).resolve().parents[1]
CAPI = "cluster.x-k8s.io"
FINALIZER = "cluster.cluster.x-k8s.io"  # Cluster API's, on every Cluster


@dataclass
class World:
    """The servers a flow runs against; `clients` reaches the target as cluster `shared`."""

    servers: dict[str, FakeKubeApiServer]
    clients: KubeClients
    kubeconfig: str  # contexts `fake` (management) and `shared-dev` (target)
    tmp: Path

    @property
    def management(self) -> FakeKubeApiServer:
        return self.servers[MANAGEMENT]

    @property
    def target(self) -> FakeKubeApiServer:
        return self.servers[TARGET]


@dataclass(frozen=True)
class Flow:
    name: str
    clusters: tuple[str, ...]
    run: Callable[[World], None]


def _put(server: FakeKubeApiServer, res: Resource, obj: dict[str, Any]) -> None:
    server.put_object(res.group, res.version, res.plural, obj)


def _stored(server: FakeKubeApiServer, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    found = server.get_object(
        res.group, res.version, res.plural, meta.get("namespace"), meta["name"]
    )
    assert found is not None, f"{res.kind} {meta['name']} is not there"
    return found


def _legacy(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` as envbot wrote it before install ids: no install-id label."""
    labels = {k: v for k, v in obj["metadata"]["labels"].items() if k != lbl.INSTALL_ID}
    return {**obj, "metadata": {**obj["metadata"], "labels": labels}}


def _install_id(server: FakeKubeApiServer, res: Resource, obj: dict[str, Any]) -> str | None:
    labels: dict[str, str] = _stored(server, res, obj)["metadata"].get("labels") or {}
    return labels.get(lbl.INSTALL_ID)


# ---- capi (management cluster) ----------------------------------------------------------


def seed_management(server: FakeKubeApiServer) -> None:
    """The operator's ClusterClasses envbot only reads: aws-default (the topology flows) in
    sandbox, aws-quick-start (examples/policy.yaml's prod-cluster, for doctor) in production."""
    tags = {
        "name": "tags",
        "required": False,
        "schema": {"openAPIV3Schema": {"type": "object", **PRESERVE}},
    }
    for name, namespace, variables in (
        ("aws-default", "sandbox", quick_start_variables(tags)),
        ("aws-quick-start", "production", quick_start_variables(TAGS_VARIABLE)),
    ):
        server.put_object(
            CAPI, "v1beta1", "clusterclasses", clusterclass(name, namespace, variables)
        )


# A manifests template may render every kind bot/domain/manifests.py supports; the example one has
# no MachineHealthCheck, so this flow's template adds one.
HEALTH_CHECK = """
---
apiVersion: cluster.x-k8s.io/v1beta1
kind: MachineHealthCheck
metadata:
  name: ${CLUSTER_NAME}-workers
spec:
  clusterName: ${CLUSTER_NAME}
  selector:
    matchLabels:
      cluster.x-k8s.io/cluster-name: ${CLUSTER_NAME}
  unhealthyConditions:
    - {type: Ready, status: Unknown, timeout: 300s}
"""


def _capi(world: World) -> CapiBackend:
    return CapiBackend(world.clients, clock=ManualClock(EXPIRES - timedelta(days=1)))


def _cluster_env(**changes: Any) -> EnvSpec:
    return cluster_env(**changes)


def capi_create_observe(world: World) -> None:
    """Create, then observe through every condition up to READY (MachineDeployments listed)."""
    capi, spec, kube = _capi(world), _cluster_env(), world.management
    capi.create(spec)
    assert capi.observe([spec])["e1"].phase is Phase.ACCEPTED
    kube.set_status(
        CAPI, "v1beta1", "clusters", "sandbox", "dev-1", st.cluster_status("v1beta1", "workers_2")
    )
    md = st.machine_deployment("v1beta1")
    md["status"] = st.md_status("v1beta1", "workers_2")
    kube.put_object(CAPI, "v1beta1", "machinedeployments", md)
    kc = KOMMANDER_CLUSTER
    kube.set_status(kc.group, kc.version, kc.plural, "sandbox", "dev-1", st.kommander_status(True))
    seen = capi.observe([spec], expected_ready=True)["e1"]
    assert (seen.phase, seen.drift) == (Phase.READY, "")


def capi_extend(world: World) -> None:
    """A later expiry re-applied: the expires-at annotation follows on both objects."""
    capi, spec = _capi(world), _cluster_env()
    capi.create(spec)
    later = _cluster_env(expires_at=spec.expires_at + timedelta(days=2))
    capi.create(later)
    for res, obj in (
        (capi.cluster_resource, cluster_manifest(later, "v1beta1", "default-worker")),
        (KOMMANDER_CLUSTER, kommander_cluster_manifest(later)),
    ):
        annotations = _stored(world.management, res, obj)["metadata"]["annotations"]
        assert annotations[lbl.EXPIRES_AT] == lbl.iso(later.expires_at)


def capi_transfer(world: World) -> None:
    """Another owner: the owner label and email follow, and the heir's observation is clean."""
    capi, spec = _capi(world), _cluster_env()
    capi.create(spec)
    heir = _cluster_env(owner_id="U0BOB", owner_email="bob@example.com")
    capi.create(heir)
    assert capi.observe([heir], expected_ready=True)["e1"].drift == ""
    assert capi.observe([spec], expected_ready=True)["e1"].drift != ""


def capi_drift_reapply(world: World) -> None:
    """The KommanderCluster deleted and the Cluster relabelled under envbot: both reported as
    drift, and a re-apply repairs both."""
    capi, spec, kube = _capi(world), _cluster_env(), world.management
    capi.create(spec)
    kc = KOMMANDER_CLUSTER
    kube.delete_object(kc.group, kc.version, kc.plural, "sandbox", "dev-1")

    def relabel(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"][lbl.OWNER] = "U0MALLORY"

    kube.store.mutate(kube.resource_type(CAPI, "v1beta1", "clusters"), "sandbox", "dev-1", relabel)
    drift = capi.observe([spec], expected_ready=True)["e1"].drift
    assert "KommanderCluster sandbox/dev-1 is missing" in drift
    assert "U0MALLORY" in drift
    capi.create(spec)
    assert capi.observe([spec], expected_ready=True)["e1"].drift == ""


def capi_delete(world: World) -> None:
    """Delete, observe DELETING while Cluster API holds its finalizer, delete again (a retry),
    and observe DELETED once Cluster API lets the Cluster go."""
    capi, spec, kube = _capi(world), _cluster_env(), world.management
    capi.create(spec)
    rt = kube.resource_type(CAPI, "v1beta1", "clusters")
    kube.store.mutate(
        rt,
        "sandbox",
        "dev-1",
        lambda o: o["metadata"].setdefault("finalizers", []).append(FINALIZER),
    )
    capi.delete(spec)
    assert capi.observe([spec])["e1"].phase is Phase.DELETING
    capi.delete(spec)
    kube.delete_object(CAPI, "v1beta1", "clusters", "sandbox", "dev-1", force=True)
    assert capi.observe([spec])["e1"].phase is Phase.DELETED
    capi.delete(spec)  # a retry once all is gone finds nothing to do


def capi_adopt_legacy(world: World) -> None:
    """A Cluster and KommanderCluster of this environment from before install ids are adopted."""
    capi, spec = _capi(world), _cluster_env()
    objects = (
        (capi.cluster_resource, cluster_manifest(spec, "v1beta1", "default-worker")),
        (KOMMANDER_CLUSTER, kommander_cluster_manifest(spec)),
    )
    for res, obj in objects:
        _put(world.management, res, _legacy(obj))
    capi.create(spec)
    for res, obj in objects:
        assert _install_id(world.management, res, obj) == spec.install_id


def _manifests_env(**changes: Any) -> EnvSpec:
    text = TEMPLATE.read_text(encoding="utf-8") + HEALTH_CHECK
    template = ClusterManifests("templates/dkp-aws.yaml", text, VARIABLES)
    return manifests_env(manifests=template, **changes)


def _rendered(spec: EnvSpec) -> list[tuple[Resource, dict[str, Any]]]:
    return render_manifests(spec, env_labels(spec), env_annotations(spec))


def capi_manifests_lifecycle(world: World) -> None:
    """A manifests template: create every object, extend and transfer (labels, annotations and
    the AWSCluster's tags follow), then delete until gone: the Cluster first, and once Cluster
    API has removed it, the template's other objects (the fake does not cascade)."""
    capi, spec, kube = _capi(world), _manifests_env(), world.management
    capi.create(spec)
    kinds = {res.kind for res, _ in _rendered(spec)}
    assert {"MachineHealthCheck", "AWSCluster", "KubeadmControlPlane"} <= kinds
    heir = _manifests_env(
        expires_at=spec.expires_at + timedelta(days=2),
        owner_id="U0BOB",
        owner_email="b@example.com",
    )
    capi.create(heir)
    for res, obj in _rendered(heir):
        stored = _stored(kube, res, obj)
        assert stored["metadata"]["labels"][lbl.OWNER] == "U0BOB", res.kind
        if res.kind == "AWSCluster":
            assert aws_tags(heir).items() <= stored["spec"]["additionalTags"].items()
    assert capi.observe([heir])[heir.env_id].drift == ""
    rt = kube.resource_type(CAPI, "v1beta1", "clusters")
    kube.store.mutate(
        rt,
        "sandbox",
        heir.name,
        lambda o: o["metadata"].setdefault("finalizers", []).append(FINALIZER),
    )
    capi.delete(heir)
    assert capi.observe([heir])[heir.env_id].phase is Phase.DELETING
    kube.delete_object(CAPI, "v1beta1", "clusters", "sandbox", heir.name, force=True)
    left = capi.observe([heir])[heir.env_id]
    assert (left.phase, "is still there" in left.drift) == (Phase.DELETING, True)
    capi.delete(heir)
    assert capi.observe([heir])[heir.env_id].phase is Phase.DELETED
    for res, obj in _rendered(heir):
        meta = obj["metadata"]
        assert kube.get_object(res.group, res.version, res.plural, "sandbox", meta["name"]) is None


def capi_manifests_adopt_legacy(world: World) -> None:
    """Every object of a manifests template from before install ids is adopted."""
    capi, spec = _capi(world), _manifests_env()
    for res, obj in _rendered(spec):
        _put(world.management, res, _legacy(obj))
    capi.create(spec)
    for res, obj in _rendered(spec):
        assert _install_id(world.management, res, obj) == spec.install_id


# ---- kommander access (management cluster) ------------------------------------------------


def _kommander_grant(**changes: Any) -> GrantSpec:
    return kommander_grant(**changes)


def kommander_grant_drift_revoke(world: World) -> None:
    """Grant, a clean drift check, one binding deleted under envbot (drift), re-apply, revoke."""
    backend, spec, kube = (
        KommanderAccessBackend(world.clients),
        _kommander_grant(),
        world.management,
    )
    backend.grant(spec)
    assert backend.drifted([spec]) == {}
    res = ALL_KINDS[0]
    kube.delete_object(res.group, res.version, res.plural, "sandbox", "envbot-g1")
    assert "is missing" in backend.drifted([spec])["g1"]
    backend.grant(spec)
    assert backend.drifted([spec]) == {}
    backend.revoke(spec)
    for item in plan(spec):
        meta = item.manifest["metadata"]
        assert (
            kube.get_object(
                item.res.group,
                item.res.version,
                item.res.plural,
                meta.get("namespace"),
                meta["name"],
            )
            is None
        )


def kommander_adopt_legacy(world: World) -> None:
    """A grant's objects from before install ids are adopted on a re-applied grant."""
    backend, spec = KommanderAccessBackend(world.clients), _kommander_grant()
    for item in plan(spec):
        _put(world.management, item.res, _legacy(item.manifest))
    backend.grant(spec)
    for item in plan(spec):
        assert _install_id(world.management, item.res, item.manifest) == spec.install_id


# ---- namespace environments (target cluster) ---------------------------------------------


def _ns_env(**changes: Any) -> EnvSpec:
    return ns_env(**changes)


def namespace_create_observe(world: World) -> None:
    """Create with quota and limit range (the template's role: edit), observe READY."""
    backend, spec = NamespaceBackend(world.clients), _ns_env()
    backend.create(spec)
    seen = backend.observe([spec])["n1"]
    assert (seen.phase, seen.drift) == (Phase.READY, "")
    for res, obj in manifests(spec):
        _stored(world.target, res, obj)


def namespace_admin_role(world: World) -> None:
    """A template whose namespace role is `admin` (the owner runs the namespace)."""
    backend, spec = NamespaceBackend(world.clients), _ns_env(role="admin")
    backend.create(spec)
    assert backend.observe([spec])["n1"].phase is Phase.READY


def namespace_extend_transfer(world: World) -> None:
    """A later expiry, then another owner: the namespace and the owner binding follow."""
    backend, spec = NamespaceBackend(world.clients), _ns_env()
    backend.create(spec)
    later = _ns_env(expires_at=spec.expires_at + timedelta(hours=8))
    backend.create(later)
    heir = _ns_env(expires_at=later.expires_at, owner_id="U0BOB", owner_email="bob@example.com")
    backend.create(heir)
    seen = backend.observe([heir])["n1"]
    assert (seen.phase, seen.drift) == (Phase.READY, "")
    ns = _stored(world.target, *manifests(heir)[0])
    assert ns["metadata"]["annotations"][lbl.EXPIRES_AT] == lbl.iso(later.expires_at)


def namespace_drift_reapply(world: World) -> None:
    """The quota deleted and the namespace relabelled under envbot: drift, then repaired."""
    backend, spec, kube = NamespaceBackend(world.clients), _ns_env(), world.target
    backend.create(spec)
    kube.delete_object("", "v1", "resourcequotas", "alice-dev", "envbot-quota")

    def relabel(obj: dict[str, Any]) -> None:
        obj["metadata"]["labels"][lbl.OWNER] = "U0MALLORY"

    kube.store.mutate(kube.resource_type("", "v1", "namespaces"), None, "alice-dev", relabel)
    drift = backend.observe([spec])["n1"].drift
    assert "ResourceQuota alice-dev/envbot-quota is missing" in drift
    assert "U0MALLORY" in drift
    backend.create(spec)
    assert backend.observe([spec])["n1"].drift == ""


def namespace_delete(world: World) -> None:
    """Delete until gone (a retry after it is gone finds nothing to do)."""
    backend, spec = NamespaceBackend(world.clients), _ns_env()
    backend.create(spec)
    backend.delete(spec)
    assert backend.observe([spec])["n1"].phase is Phase.DELETED
    backend.delete(spec)


def namespace_adopt_legacy(world: World) -> None:
    """Every object of a namespace environment from before install ids is adopted."""
    backend, spec = NamespaceBackend(world.clients), _ns_env()
    for res, obj in manifests(spec):
        _put(world.target, res, _legacy(obj))
    backend.create(spec)
    for res, obj in manifests(spec):
        assert _install_id(world.target, res, obj) == spec.install_id


# ---- rbac access (target cluster) ----------------------------------------------------------


def _rbac_grant(**changes: Any) -> GrantSpec:
    base = GrantSpec(
        grant_id="g1",
        subject="alice@example.com",
        workspace="team-a",
        namespace="team-a",
        role="edit",
        expires_at=EXPIRES,
        cluster_role="edit",
        cluster_ref="shared",
        install_id="inst-a",
    )
    return GrantSpec(**{**base.__dict__, **changes})


def _grant_drift_revoke(world: World, spec: GrantSpec) -> None:
    backend, kube = RbacAccessBackend(world.clients), world.target
    res, obj = binding(spec)
    backend.grant(spec)
    assert backend.drifted([spec]) == {}
    meta = obj["metadata"]
    kube.delete_object(res.group, res.version, res.plural, meta.get("namespace"), meta["name"])
    assert "is missing" in backend.drifted([spec])["g1"]
    backend.grant(spec)
    backend.grant(spec)  # re-applied over an existing binding: kept as it is
    assert backend.drifted([spec]) == {}
    backend.revoke(spec)
    assert (
        kube.get_object(res.group, res.version, res.plural, meta.get("namespace"), meta["name"])
        is None
    )


def rbac_namespaced(world: World) -> None:
    """A RoleBinding to `edit` in the workspace namespace: grant, drift, re-apply, revoke."""
    _grant_drift_revoke(world, _rbac_grant())


def rbac_cluster_wide(world: World) -> None:
    """A workspace without a namespace: a ClusterRoleBinding to `view`."""
    _grant_drift_revoke(world, _rbac_grant(namespace="", cluster_role="view", role="view"))


def rbac_adopt_legacy(world: World) -> None:
    """Bindings of both kinds from before install ids are adopted on a re-applied grant."""
    backend = RbacAccessBackend(world.clients)
    for spec in (_rbac_grant(), _rbac_grant(grant_id="g2", namespace="", cluster_role="view")):
        res, obj = binding(spec)
        _put(world.target, res, _legacy(obj))
        backend.grant(spec)
        assert _install_id(world.target, res, obj) == spec.install_id


# ---- envbot doctor (both clusters) --------------------------------------------------------


def doctor(world: World) -> None:
    """`envbot doctor` with examples/policy.yaml: it lists Clusters and MachineDeployments in
    every kommander workspace namespace, and reads each target cluster's /version (a
    non-resource URL every authenticated user may GET through the default
    system:public-info-viewer binding, so no envbot rule is involved)."""
    with FakeSlack() as slack, pytest.MonkeyPatch.context() as env:
        url = f"sqlite:///{world.tmp}/doctor.db"
        migrate.upgrade(url, install_id="inst-a")
        for key, value in {
            "ENVBOT_SLACK__BOT_TOKEN": slack.token,
            "ENVBOT_SLACK__SIGNING_SECRET": "s",
            "ENVBOT_SLACK__API_URL": slack.api_url,
            "ENVBOT_DATABASE_URL": url,
            "ENVBOT_POLICY_FILE": str(ROOT / "examples" / "policy.yaml"),
            "ENVBOT_KUBECONFIG": world.kubeconfig,
            "ENVBOT_KUBE_CONTEXT": "fake",
        }.items():
            env.setenv(key, value)
        world.target.clear_requests()
        checks = {c.name: c for c in run_checks()}
    assert all(c.ok for c in checks.values()), checks
    assert [(r.method, r.path) for r in world.target.requests] == [("GET", "/version/")]
    assert checks["kubernetes"].detail.endswith("in sandbox (sandbox), production (production)")


FLOWS = (
    Flow("capi create, observe to READY", (MANAGEMENT,), capi_create_observe),
    Flow("capi extend", (MANAGEMENT,), capi_extend),
    Flow("capi transfer", (MANAGEMENT,), capi_transfer),
    Flow("capi drift re-apply", (MANAGEMENT,), capi_drift_reapply),
    Flow("capi delete until gone", (MANAGEMENT,), capi_delete),
    Flow("capi adopt from before install ids", (MANAGEMENT,), capi_adopt_legacy),
    Flow(
        "capi manifests create, extend, transfer, delete", (MANAGEMENT,), capi_manifests_lifecycle
    ),
    Flow(
        "capi manifests adopt from before install ids", (MANAGEMENT,), capi_manifests_adopt_legacy
    ),
    Flow("kommander grant, drift, re-apply, revoke", (MANAGEMENT,), kommander_grant_drift_revoke),
    Flow("kommander adopt from before install ids", (MANAGEMENT,), kommander_adopt_legacy),
    Flow("namespace create, observe", (TARGET,), namespace_create_observe),
    Flow("namespace with role admin", (TARGET,), namespace_admin_role),
    Flow("namespace extend, transfer", (TARGET,), namespace_extend_transfer),
    Flow("namespace drift re-apply", (TARGET,), namespace_drift_reapply),
    Flow("namespace delete until gone", (TARGET,), namespace_delete),
    Flow("namespace adopt from before install ids", (TARGET,), namespace_adopt_legacy),
    Flow("rbac RoleBinding grant, drift, re-apply, revoke", (TARGET,), rbac_namespaced),
    Flow("rbac ClusterRoleBinding grant, drift, re-apply, revoke", (TARGET,), rbac_cluster_wide),
    Flow("rbac adopt from before install ids", (TARGET,), rbac_adopt_legacy),
    Flow("envbot doctor", (MANAGEMENT, TARGET), doctor),
)
