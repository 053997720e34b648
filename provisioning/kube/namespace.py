"""The `namespace` environment backend: a labelled namespace with a ResourceQuota, a LimitRange
and a RoleBinding for the owner, in an existing cluster named by `EnvSpec.cluster_ref`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from provisioning.base import EnvSpec, Observation, Phase
from provisioning.kube import labels as lbl
from provisioning.kube.capi import env_annotations, env_labels, env_owner
from provisioning.kube.client import (
    LIMIT_RANGE,
    NAMESPACE,
    RESOURCE_QUOTA,
    ROLE_BINDING,
    KubeClient,
    KubeClients,
    Obj,
    Resource,
)
from provisioning.ownership import Claim

QUOTA_NAME = "envbot-quota"
LIMITS_NAME = "envbot-limits"
OWNER_BINDING = "envbot-owner"


def _child_meta(spec: EnvSpec, name: str) -> Obj:
    return {"name": name, "namespace": spec.name, "labels": env_labels(spec)}


def manifests(spec: EnvSpec) -> list[tuple[Resource, Obj]]:
    """Every object of a namespace environment, the namespace first.

    The ResourceQuota and the LimitRange exist only when the template sets `quota` and
    `limit_range`.
    """
    objects: list[tuple[Resource, Obj]] = [
        (
            NAMESPACE,
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": spec.name,
                    "labels": env_labels(spec),
                    "annotations": env_annotations(spec),
                },
            },
        ),
        (
            ROLE_BINDING,
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _child_meta(spec, OWNER_BINDING),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": spec.role or "admin",
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "User",
                        "name": spec.owner_email,
                    }
                ],
            },
        ),
    ]
    if spec.quota:
        quota = {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": _child_meta(spec, QUOTA_NAME),
            "spec": {"hard": dict(spec.quota)},
        }
        objects.insert(1, (RESOURCE_QUOTA, quota))
    if spec.limit_range:
        limits = {k: dict(v) for k, v in spec.limit_range.items()}
        limit_range = {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": _child_meta(spec, LIMITS_NAME),
            "spec": {"limits": [{"type": "Container", **limits}]},
        }
        objects.insert(-1, (LIMIT_RANGE, limit_range))
    return objects


class NamespaceBackend:
    """Environments as namespaces in existing clusters."""

    name = "namespace"

    def __init__(self, clients: KubeClients) -> None:
        self._clients = clients

    def create(self, spec: EnvSpec) -> None:
        """Check the namespace is free (or ours), then create it and its quota, limits and
        owner binding; existing ones are kept, and ones from before install ids are adopted.

        A namespace or owner binding that names another owner (a transfer) is patched to the
        spec's owner; quota and limits are only created, and reported by `observe` when changed.

        Raises:
            TemporaryError: the API server is unavailable, or the old namespace is terminating.
            NameTaken: a namespace of that name is not this environment's.
            PermanentError: rejected, unknown cluster, or an object in it belongs to another.
        """
        kube = self._clients.cluster(spec.cluster_ref)
        owner = env_owner(spec)
        found = kube.get(NAMESPACE, spec.name)
        if found is not None:
            lbl.ensure_owned(found, owner, f"Namespace {spec.name} on {kube.label}", name=spec.name)
        for res, obj in manifests(spec):
            stored = kube.create(res, obj)
            meta = obj["metadata"]
            what = f"{res.kind} {meta['name']} on {kube.label}"
            taken = spec.name if res is NAMESPACE else ""
            claim = lbl.ensure_owned(stored, owner, what, name=taken)
            patch: Obj = {}
            if claim is Claim.LEGACY:  # made before install ids: adopt it
                patch["metadata"] = {"labels": meta["labels"]}
            if res is NAMESPACE and lbl.mismatches(stored, meta["labels"], meta["annotations"]):
                # A transfer or an extension since the namespace was made: refresh the owner
                # label and the owner-email / expires-at annotations.
                patch["metadata"] = {"labels": meta["labels"], "annotations": meta["annotations"]}
            if res is ROLE_BINDING and stored.get("subjects") != obj["subjects"]:
                # The environment changed hands (transfer, offboarding): bind the new owner.
                # Subjects can change in place; roleRef cannot, and stays the template's role.
                patch["subjects"] = obj["subjects"]
                patch["metadata"] = {
                    "labels": meta["labels"],
                    "annotations": meta.get("annotations", {}),
                }
            if patch:
                kube.patch_owned(res, meta["name"], patch, meta.get("namespace"), owner)

    def observe(
        self, specs: Sequence[EnvSpec], *, expected_ready: bool = False
    ) -> dict[str, Observation]:
        """One list per kind per cluster (by label, across namespaces), keyed by env id.

        Args:
            specs: the environments to look at.
            expected_ready: accepted for symmetry with `CapiBackend`; a namespace environment
                whose namespace exists but lacks an object reports drift either way.
        """
        del expected_ready
        result: dict[str, Observation] = {}
        for ref in sorted({s.cluster_ref for s in specs}):
            kube = self._clients.cluster(ref)
            seen = self._seen(kube)
            for spec in (s for s in specs if s.cluster_ref == ref):
                # What carries our names but not our owner is, for this environment, not there.
                owner = env_owner(spec)
                labelled = seen.get(lbl.label_value(spec.env_id), {})
                mine = {k: o for k, o in labelled.items() if owner.owns(lbl.meta(o).get("labels"))}
                result[spec.env_id] = self._observation(spec, mine)
        return result

    @staticmethod
    def _seen(kube: KubeClient) -> dict[str, dict[tuple[str, str, str], Obj]]:
        """Every managed object of the cluster, by its env-id label, then (kind, ns, name)."""
        seen: dict[str, dict[tuple[str, str, str], Obj]] = {}
        for res in (NAMESPACE, RESOURCE_QUOTA, LIMIT_RANGE, ROLE_BINDING):
            for obj in kube.list(res, lbl.MANAGED_SELECTOR):
                env_id = str((lbl.meta(obj).get("labels") or {}).get(lbl.ENV_ID, ""))
                seen.setdefault(env_id, {})[(res.kind, *lbl.key_of(obj))] = obj
        return seen

    def _observation(self, spec: EnvSpec, seen: Mapping[tuple[str, str, str], Any]) -> Observation:
        ns = seen.get(("Namespace", "", spec.name))
        if ns is None:
            return Observation(Phase.DELETED, exists=False)
        if (
            lbl.meta(ns).get("deletionTimestamp")
            or (ns.get("status") or {}).get("phase") == "Terminating"
        ):
            return Observation(Phase.DELETING)
        missing = [
            f"{res.kind} {spec.name}/{obj['metadata']['name']} is missing"
            for res, obj in manifests(spec)[1:]
            if (res.kind, spec.name, obj["metadata"]["name"]) not in seen
        ]
        changed = lbl.mismatches(ns, env_labels(spec), {lbl.OWNER_EMAIL: spec.owner_email})
        binding = seen.get(("RoleBinding", spec.name, OWNER_BINDING))
        if binding is not None:
            subjects = [s.get("name") for s in binding.get("subjects") or []]
            role = (binding.get("roleRef") or {}).get("name")
            if subjects != [spec.owner_email] or role != (spec.role or "admin"):
                changed.append(f"RoleBinding {OWNER_BINDING} now binds {role} to {subjects}")
        quota = seen.get(("ResourceQuota", spec.name, QUOTA_NAME))
        # Compare resource names only: the API server canonicalises quantities ("2048Mi" -> "2Gi").
        if quota is not None and set((quota.get("spec") or {}).get("hard") or {}) != set(
            spec.quota
        ):
            changed.append(f"ResourceQuota {QUOTA_NAME} limits other resources now")
        limits = seen.get(("LimitRange", spec.name, LIMITS_NAME))
        if limits is not None and _limit_keys(limits) != {
            (k, r) for k, v in spec.limit_range.items() for r in v
        }:
            changed.append(f"LimitRange {LIMITS_NAME} sets other container defaults now")
        phase = Phase.ACCEPTED if missing else Phase.READY
        return Observation(phase, drift="; ".join(missing + changed))

    def delete(self, spec: EnvSpec) -> None:
        """Delete the namespace (and so everything in it) after checking it is this
        environment's; an absent namespace is fine, another owner's is left alone."""
        kube = self._clients.cluster(spec.cluster_ref)
        kube.delete_owned(NAMESPACE, spec.name, None, env_owner(spec))


def _limit_keys(limit_range: Obj) -> set[tuple[str, str]]:
    """(field, resource) pairs of the Container limits (the server canonicalises quantities)."""
    items = ((limit_range.get("spec") or {}).get("limits")) or []
    container: Obj = next((i for i in items if i.get("type") == "Container"), {})
    return {(k, r) for k in ("default", "defaultRequest") for r in container.get(k) or {}}
