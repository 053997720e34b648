"""The flows envbot runs on the management cluster under deploy/rbac.yaml: the capi backend
(topology and manifests templates) and the kommander access backend. Each checks it did what it
is for, so a flow that silently does nothing cannot pass as coverage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.demo.kube.apiserver import FakeKubeApiServer
from bot.demo.kube.capi import TAGS_VARIABLE, clusterclass, quick_start_variables
from bot.demo.kube.schema import PRESERVE
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
from provisioning.kube.client import Resource
from provisioning.kube.kommander import ALL_KINDS, KommanderAccessBackend, plan
from provisioning.kube.templates import aws_tags, render_manifests
from tests import capi_stages as st
from tests.integration.test_cluster_templates_kube import TEMPLATE, VARIABLES, manifests_env
from tests.integration.test_kube_backends import env as cluster_env
from tests.integration.test_kube_backends import grant as kommander_grant
from tests.integration.test_kube_rbac import EXPIRES
from tests.rbac_world import (
    CAPI,
    FINALIZER,
    World,
    install_id,
    legacy,
    put,
    stored,
)

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
        annotations = stored(world.management, res, obj)["metadata"]["annotations"]
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
        put(world.management, res, legacy(obj))
    capi.create(spec)
    for res, obj in objects:
        assert install_id(world.management, res, obj) == spec.install_id


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
        found = stored(kube, res, obj)
        assert found["metadata"]["labels"][lbl.OWNER] == "U0BOB", res.kind
        if res.kind == "AWSCluster":
            assert aws_tags(heir).items() <= found["spec"]["additionalTags"].items()
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
        put(world.management, res, legacy(obj))
    capi.create(spec)
    for res, obj in _rendered(spec):
        assert install_id(world.management, res, obj) == spec.install_id


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
        put(world.management, item.res, legacy(item.manifest))
    backend.grant(spec)
    for item in plan(spec):
        assert install_id(world.management, item.res, item.manifest) == spec.install_id
