"""Kubernetes REST resources as plain values: group, version, plural, and their paths.

Kept apart from `client.py` (the only module that imports `kubernetes`) so the backends and
tests can name resources without the SDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """One REST resource: an API group/version/plural and whether it lives in a namespace."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        """The `apiVersion` string objects of this resource carry."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def custom(self) -> bool:
        """True for CRDs, which go through `CustomObjectsApi`."""
        return self.group not in ("", "rbac.authorization.k8s.io")

    def path(self, namespace: str | None, name: str | None = None) -> str:
        """The REST path of the collection, or of one object when `name` is given."""
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            root += f"/namespaces/{namespace}"
        root += f"/{self.plural}"
        return f"{root}/{name}" if name else root


NAMESPACE = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
RESOURCE_QUOTA = Resource("", "v1", "resourcequotas", "ResourceQuota", namespaced=True)
LIMIT_RANGE = Resource("", "v1", "limitranges", "LimitRange", namespaced=True)
_RBAC = "rbac.authorization.k8s.io"
ROLE_BINDING = Resource(_RBAC, "v1", "rolebindings", "RoleBinding", namespaced=True)
CLUSTER_ROLE_BINDING = Resource(_RBAC, "v1", "clusterrolebindings", "ClusterRoleBinding", False)
