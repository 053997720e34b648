"""The `kommander` access backend: per grant a VirtualGroup for the user and the Kommander role
bindings of the seed's `sandbox_virtual_group.yaml`, all named `envbot-<grant id>`, so that
overlapping grants each own their objects and revoking one never cuts another short."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import PermanentError
from provisioning.base import GrantSpec
from provisioning.kube import labels as lbl
from provisioning.kube.client import KubeClient, KubeClients, Obj, Resource
from provisioning.ownership import Claim

_KOM = "kommander.mesosphere.io"
_WS = "workspaces.kommander.mesosphere.io"
VIRTUAL_GROUP = Resource(_KOM, "v1beta1", "virtualgroups", "VirtualGroup", namespaced=False)
VG_WORKSPACE_ROLE_BINDING = Resource(
    _WS, "v1alpha1", "virtualgroupworkspacerolebindings", "VirtualGroupWorkspaceRoleBinding", True
)
VG_KOMMANDER_WORKSPACE_ROLE_BINDING = Resource(
    _WS,
    "v1alpha1",
    "virtualgroupkommanderworkspacerolebindings",
    "VirtualGroupKommanderWorkspaceRoleBinding",
    True,
)
VG_CLUSTER_ROLE_BINDING = Resource(
    _KOM, "v1beta1", "virtualgroupclusterrolebindings", "VirtualGroupClusterRoleBinding", False
)
VG_KOMMANDER_CLUSTER_ROLE_BINDING = Resource(
    _WS,
    "v1alpha1",
    "virtualgroupkommanderclusterrolebindings",
    "VirtualGroupKommanderClusterRoleBinding",
    False,
)
ALL_KINDS = (
    VG_WORKSPACE_ROLE_BINDING,
    VG_KOMMANDER_WORKSPACE_ROLE_BINDING,
    VG_CLUSTER_ROLE_BINDING,
    VG_KOMMANDER_CLUSTER_ROLE_BINDING,
    VIRTUAL_GROUP,  # last, so revoke removes the bindings before the group they point at
)
_ALL_CLUSTERS: Obj = {"clusterSelector": {}}  # an empty selector matches every cluster


@dataclass(frozen=True)
class Planned:
    """One object a grant needs, and the spec field whose value drift is checked on."""

    res: Resource
    manifest: Obj
    role_field: str  # "" for the VirtualGroup, whose subjects are checked instead

    @property
    def key(self) -> tuple[str, str, str]:
        """(kind, namespace, name) as `observed` indexes objects."""
        return (self.res.kind, *lbl.key_of(self.manifest))


def _subjects(spec: GrantSpec) -> list[Obj]:
    return [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": spec.subject}]


def plan(spec: GrantSpec) -> list[Planned]:
    """The objects of one grant, in creation order (the VirtualGroup first)."""
    if not (spec.workspace_role or spec.role):
        raise PermanentError(f"grant {spec.grant_id} names no workspace role")
    name = lbl.grant_name(spec.grant_id)
    labels = lbl.grant_labels(spec.grant_id, spec.install_id)
    annotations = {lbl.EXPIRES_AT: lbl.iso(spec.expires_at), lbl.SUBJECT: spec.subject}
    group_ref = {"virtualGroupRef": {"name": name}}

    def obj(res: Resource, namespaced: bool, body: Obj) -> Obj:
        meta: Obj = {"name": name, "labels": labels, "annotations": annotations}
        if namespaced:
            meta["namespace"] = spec.namespace
        return {"apiVersion": res.api_version, "kind": res.kind, "metadata": meta, "spec": body}

    wanted: list[Planned] = [
        Planned(VIRTUAL_GROUP, obj(VIRTUAL_GROUP, False, {"subjects": _subjects(spec)}), ""),
        Planned(
            VG_WORKSPACE_ROLE_BINDING,
            obj(
                VG_WORKSPACE_ROLE_BINDING,
                True,
                {
                    **group_ref,
                    "workspaceRoleRef": {"name": spec.workspace_role or spec.role},
                    "placement": _ALL_CLUSTERS,
                },
            ),
            "workspaceRoleRef",
        ),
    ]
    if spec.kommander_role:
        body = {**group_ref, "kommanderWorkspaceRoleRef": {"name": spec.kommander_role}}
        wanted.append(
            Planned(
                VG_KOMMANDER_WORKSPACE_ROLE_BINDING,
                obj(VG_KOMMANDER_WORKSPACE_ROLE_BINDING, True, body),
                "kommanderWorkspaceRoleRef",
            )
        )
    if spec.global_cluster_role:
        body = {
            **group_ref,
            "clusterRoleRef": {"name": spec.global_cluster_role},
            "placement": _ALL_CLUSTERS,
        }
        wanted.append(
            Planned(
                VG_CLUSTER_ROLE_BINDING, obj(VG_CLUSTER_ROLE_BINDING, False, body), "clusterRoleRef"
            )
        )
    if spec.global_kommander_role:
        body = {**group_ref, "clusterRoleRef": {"name": spec.global_kommander_role}}
        wanted.append(
            Planned(
                VG_KOMMANDER_CLUSTER_ROLE_BINDING,
                obj(VG_KOMMANDER_CLUSTER_ROLE_BINDING, False, body),
                "clusterRoleRef",
            )
        )
    return wanted


def _difference(item: Planned, found: Mapping[str, Any]) -> str:
    """What changed between the planned object and the stored one ("" when nothing did)."""
    kind, name = item.res.kind, item.manifest["metadata"]["name"]
    want_spec, have_spec = item.manifest["spec"], found.get("spec") or {}
    if item.role_field:
        want = want_spec[item.role_field]["name"]
        have = (have_spec.get(item.role_field) or {}).get("name")
        if have != want:
            return f"{kind} {name} now refers to {have!r} instead of {want!r}"
        if (have_spec.get("virtualGroupRef") or {}).get("name") != name:
            return f"{kind} {name} now points at another VirtualGroup"
        return ""
    have_subjects = [(s.get("kind"), s.get("name")) for s in have_spec.get("subjects") or []]
    want_subjects = [(s["kind"], s["name"]) for s in want_spec["subjects"]]
    if have_subjects != want_subjects:
        return f"{kind} {name} subjects are {have_subjects} instead of {want_subjects}"
    return ""


class KommanderAccessBackend:
    """Grants as Kommander VirtualGroups and role bindings on the management cluster."""

    name = "kommander"

    def __init__(self, clients: KubeClients) -> None:
        self._clients = clients

    @property
    def _kube(self) -> KubeClient:
        return self._clients.management()

    def grant(self, spec: GrantSpec) -> None:
        """Create the grant's VirtualGroup and bindings; ones already there are kept.

        Raises:
            TemporaryError: the API server is unavailable; retry later.
            PermanentError: rejected, or an object of that name belongs to another grant.
        """
        owner = lbl.grant_owner(spec.grant_id, spec.install_id)
        for item in plan(spec):
            stored = self._kube.create(item.res, item.manifest)
            meta = item.manifest["metadata"]
            if lbl.ensure_owned(stored, owner, f"{item.res.kind} {meta['name']}") is Claim.LEGACY:
                patch = {"metadata": {"labels": meta["labels"]}}  # from before install ids
                self._kube.patch_owned(item.res, meta["name"], patch, meta.get("namespace"), owner)

    def revoke(self, spec: GrantSpec) -> None:
        """Delete the grant's bindings, then its VirtualGroup; missing objects are fine.

        Every kind is tried even when the spec no longer names its role, so a grant whose
        policy changed after it was given still loses everything it had. Each object is read,
        its owner checked and exactly that object deleted; another owner's is left alone.
        """
        name = lbl.grant_name(spec.grant_id)
        owner = lbl.grant_owner(spec.grant_id, spec.install_id)
        for res in ALL_KINDS:
            self._kube.delete_owned(res, name, spec.namespace if res.namespaced else None, owner)

    def drifted(self, specs: Sequence[GrantSpec]) -> dict[str, str]:
        """Grants whose objects vanished or changed, from one list per kind (and namespace).

        Returns:
            grant id -> what is wrong, only for grants with a problem.
        """
        seen: dict[tuple[str, str, str], Obj] = {}
        for res in ALL_KINDS:
            namespaces = sorted({s.namespace for s in specs}) if res.namespaced else [None]
            for namespace in namespaces if specs else []:
                for obj in self._kube.list(res, lbl.MANAGED_SELECTOR, namespace):
                    seen[(res.kind, *lbl.key_of(obj))] = obj
        result: dict[str, str] = {}
        for spec in specs:
            problems: list[str] = []
            owner = lbl.grant_owner(spec.grant_id, spec.install_id)
            for item in plan(spec):
                found = lbl.owned(seen.get(item.key), owner)
                if found is None:
                    problems.append(f"{item.res.kind} {item.key[2]} is missing")
                elif text := _difference(item, found):
                    problems.append(text)
            if problems:
                result[spec.grant_id] = "; ".join(problems)
        return result
