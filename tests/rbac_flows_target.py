"""The flows envbot runs on a target cluster under deploy/target-cluster/rbac.yaml: the namespace
environment backend and the rbac access backend. Each checks it did what it is for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from provisioning.base import EnvSpec, GrantSpec, Phase
from provisioning.kube import labels as lbl
from provisioning.kube.namespace import NamespaceBackend, manifests
from provisioning.kube.rbac import RbacAccessBackend, binding
from tests.integration.test_kube_rbac import EXPIRES, ns_env
from tests.rbac_world import (
    World,
    install_id,
    legacy,
    put,
    stored,
)

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
        stored(world.target, res, obj)


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
    ns = stored(world.target, *manifests(heir)[0])
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
        put(world.target, res, legacy(obj))
    backend.create(spec)
    for res, obj in manifests(spec):
        assert install_id(world.target, res, obj) == spec.install_id


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
        put(world.target, res, legacy(obj))
        backend.grant(spec)
        assert install_id(world.target, res, obj) == spec.install_id
