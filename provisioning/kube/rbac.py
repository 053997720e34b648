"""The `rbac` access backend: one plain RoleBinding (or a ClusterRoleBinding when the grant has
no namespace) per grant, named `envbot-<grant id>`, on the cluster the grant names."""

from __future__ import annotations

from collections.abc import Sequence

from bot.errors import PermanentError
from provisioning.base import GrantSpec
from provisioning.kube import labels as lbl
from provisioning.kube.client import CLUSTER_ROLE_BINDING, ROLE_BINDING, KubeClients, Obj, Resource
from provisioning.ownership import Claim

_RBAC = "rbac.authorization.k8s.io"


def _role(spec: GrantSpec) -> str:
    return spec.cluster_role or spec.role


def binding(spec: GrantSpec) -> tuple[Resource, Obj]:
    """The binding object of one grant and the resource it is created as."""
    if not _role(spec):
        raise PermanentError(f"grant {spec.grant_id} names no cluster role")
    res = ROLE_BINDING if spec.namespace else CLUSTER_ROLE_BINDING
    meta: Obj = {
        "name": lbl.grant_name(spec.grant_id),
        "labels": lbl.grant_labels(spec.grant_id, spec.install_id),
        "annotations": {lbl.EXPIRES_AT: lbl.iso(spec.expires_at), lbl.SUBJECT: spec.subject},
    }
    if spec.namespace:
        meta["namespace"] = spec.namespace
    return res, {
        "apiVersion": f"{_RBAC}/v1",
        "kind": res.kind,
        "metadata": meta,
        "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": _role(spec)},
        "subjects": [{"apiGroup": _RBAC, "kind": "User", "name": spec.subject}],
    }


class RbacAccessBackend:
    """Grants as Kubernetes RBAC bindings to a ClusterRole."""

    name = "rbac"

    def __init__(self, clients: KubeClients) -> None:
        self._clients = clients

    def grant(self, spec: GrantSpec) -> None:
        """Create the grant's binding, or keep the one already there.

        Raises:
            TemporaryError: the API server is unavailable; retry later.
            PermanentError: rejected, unknown cluster, or the name belongs to another grant.
        """
        res, obj = binding(spec)
        kube = self._clients.cluster(spec.cluster_ref)
        stored = kube.create(res, obj)
        meta = obj["metadata"]
        owner = lbl.grant_owner(spec.grant_id, spec.install_id)
        if lbl.ensure_owned(stored, owner, f"{res.kind} {meta['name']} on {kube.label}") is (
            Claim.LEGACY
        ):
            patch = {"metadata": {"labels": meta["labels"]}}  # from before install ids: adopt
            kube.patch_owned(res, meta["name"], patch, meta.get("namespace"), owner)

    def revoke(self, spec: GrantSpec) -> None:
        """Delete the grant's binding after checking it is this grant's; a missing one is fine,
        another owner's is left alone."""
        res, obj = binding(spec)
        meta = obj["metadata"]
        kube = self._clients.cluster(spec.cluster_ref)
        kube.delete_owned(
            res,
            meta["name"],
            meta.get("namespace"),
            lbl.grant_owner(spec.grant_id, spec.install_id),
        )

    def drifted(self, specs: Sequence[GrantSpec]) -> dict[str, str]:
        """Grants whose binding vanished or changed, from one list per kind per cluster.

        Returns:
            grant id -> what is wrong, only for grants with a problem.
        """
        seen: dict[tuple[str, str, str, str], Obj] = {}
        for ref in sorted({s.cluster_ref for s in specs}):
            kube = self._clients.cluster(ref)
            for res in (ROLE_BINDING, CLUSTER_ROLE_BINDING):
                for found in kube.list(res, lbl.MANAGED_SELECTOR):
                    seen[(ref, res.kind, *lbl.key_of(found))] = found
        result: dict[str, str] = {}
        for spec in specs:
            res, want = binding(spec)
            key = lbl.key_of(want)
            stored = lbl.owned(
                seen.get((spec.cluster_ref, res.kind, *key)),
                lbl.grant_owner(spec.grant_id, spec.install_id),
            )
            if stored is None:
                result[spec.grant_id] = f"{res.kind} {'/'.join(filter(None, key))} is missing"
                continue
            role = (stored.get("roleRef") or {}).get("name")
            subjects = [s.get("name") for s in stored.get("subjects") or []]
            if role != _role(spec) or subjects != [spec.subject]:
                result[spec.grant_id] = f"{res.kind} {key[1]} now binds {role} to {subjects}"
        return result
