"""RBAC for the fake API server: the rules of a shipped manifest, enforced as kube-apiserver does.

A request the rules do not allow gets the API server's own 403 (`responsewriters.Forbidden` +
`apierrors.NewForbidden` wording). Creating or changing a (Cluster)RoleBinding passes the RBAC
registry's escalation check: the requester needs `bind` on the referenced role, or must already
hold every permission in it (`ConfirmNoEscalation`). Every authorized request is recorded as an
`Access`, so a test can compare what the code used with what the manifest grants.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.demo.kube.store import ApiError

Json = dict[str, Any]
RBAC_GROUP = "rbac.authorization.k8s.io"
ENVBOT_USER = "system:serviceaccount:envbot:envbot"


@dataclass(frozen=True)
class Rule:
    """One PolicyRule of a Role or ClusterRole."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    @classmethod
    def parse(cls, rule: Mapping[str, Any]) -> Rule:
        return cls(
            tuple(rule.get("apiGroups") or ()),
            tuple(rule.get("resources") or ()),
            tuple(rule.get("verbs") or ()),
            tuple(rule.get("resourceNames") or ()),
        )

    def allows(self, a: Attributes) -> bool:
        """`rbac.RuleAllows`: verb, group, resource (with subresource) and name all match."""
        resource = a.resource + (f"/{a.subresource}" if a.subresource else "")
        resource_ok = any(
            r in ("*", resource) or (a.subresource and r == f"*/{a.subresource}")
            for r in self.resources
        )
        name_ok = not self.resource_names or a.name in self.resource_names
        return (
            any(v in ("*", a.verb) for v in self.verbs)
            and any(g in ("*", a.group) for g in self.api_groups)
            and resource_ok
            and bool(name_ok)
        )

    def covered_by(self, owner: Sequence[Rule]) -> list[Rule]:
        """`validation.Covers`: the atoms of this rule that no owner rule covers."""
        missing: list[Rule] = []
        names: Sequence[str | None] = self.resource_names or (None,)
        for group in self.api_groups:
            for resource in self.resources:
                for verb in self.verbs:
                    for name in names:
                        if not any(o._covers(group, resource, verb, name) for o in owner):
                            missing.append(
                                Rule((group,), (resource,), (verb,), (name,) if name else ())
                            )
        return missing

    def _covers(self, group: str, resource: str, verb: str, name: str | None) -> bool:
        return (
            any(v in ("*", verb) for v in self.verbs)
            and any(g in ("*", group) for g in self.api_groups)
            and any(r in ("*", resource) for r in self.resources)
            and (not self.resource_names or (name is not None and name in self.resource_names))
        )

    def compact(self) -> str:
        """`rbacv1helpers.CompactString`: `{APIGroups:["g"], Resources:["r"], Verbs:["v"]}`."""

        def quoted(values: Iterable[str]) -> str:
            return " ".join(json.dumps(v) for v in values)

        parts = [f"APIGroups:[{quoted(self.api_groups)}]", f"Resources:[{quoted(self.resources)}]"]
        if self.resource_names:
            parts.append(f"ResourceNames:[{quoted(self.resource_names)}]")
        parts.append(f"Verbs:[{quoted(self.verbs)}]")
        return "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class Attributes:
    """What the authorizer is asked about one request (`authorizer.Attributes`)."""

    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str
    name: str


@dataclass(frozen=True)
class Bound:
    """One role a binding write named and passed the escalation check for by `bind`."""

    resource: str  # clusterroles or roles
    name: str
    namespace: str | None


@dataclass(frozen=True)
class Access:
    """One authorized (verb, group, resource, subresource, namespace), for a coverage test."""

    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str | None


def request_verb(method: str, *, named: bool, watch: bool) -> str:
    """The RBAC verb of an HTTP request (`request.RequestInfoFactory`)."""
    if method == "GET":
        if watch:
            return "watch"
        return "get" if named else "list"
    if method == "DELETE":
        return "delete" if named else "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def _groups_of(user: str) -> tuple[str, ...]:
    parts = user.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        return (
            "system:serviceaccounts",
            f"system:serviceaccounts:{parts[2]}",
            "system:authenticated",
        )
    return ("system:authenticated",)


class Authorizer:
    """The rules bound to one user by the (Cluster)Role(Binding)s of some manifests."""

    def __init__(self, documents: Iterable[Mapping[str, Any]], user: str = ENVBOT_USER) -> None:
        self.user = user
        self.groups = _groups_of(user)
        docs = [d for d in documents if isinstance(d, Mapping)]
        cluster_roles = {
            d["metadata"]["name"]: [Rule.parse(r) for r in d.get("rules") or []]
            for d in docs
            if d.get("kind") == "ClusterRole"
        }
        roles = {
            (d["metadata"].get("namespace", ""), d["metadata"]["name"]): [
                Rule.parse(r) for r in d.get("rules") or []
            ]
            for d in docs
            if d.get("kind") == "Role"
        }
        self.cluster_rules: list[Rule] = []
        self.namespace_rules: dict[str, list[Rule]] = {}
        for d in docs:
            if d.get("kind") not in ("ClusterRoleBinding", "RoleBinding") or not self._binds_me(d):
                continue
            ref = d.get("roleRef") or {}
            namespace = d["metadata"].get("namespace", "")
            if ref.get("kind") == "ClusterRole":
                rules = cluster_roles.get(ref.get("name", ""), [])
            else:
                rules = roles.get((namespace, ref.get("name", "")), [])
            if d["kind"] == "ClusterRoleBinding":
                self.cluster_rules.extend(rules)
            else:
                self.namespace_rules.setdefault(namespace, []).extend(rules)
        self._used: set[Access] = set()
        self._denied: list[Attributes] = []
        self._bound: set[Bound] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_manifests(cls, *paths: Path | str, user: str = ENVBOT_USER) -> Authorizer:
        docs: list[Mapping[str, Any]] = []
        for path in paths:
            docs.extend(yaml.safe_load_all(Path(path).read_text(encoding="utf-8")))
        return cls(docs, user)

    def _binds_me(self, binding: Mapping[str, Any]) -> bool:
        for subject in binding.get("subjects") or []:
            kind, name = subject.get("kind"), subject.get("name")
            if kind == "ServiceAccount":
                if f"system:serviceaccount:{subject.get('namespace')}:{name}" == self.user:
                    return True
            elif (kind == "User" and name == self.user) or (
                kind == "Group" and name in self.groups
            ):
                return True
        return False

    def rules_for(self, namespace: str) -> list[Rule]:
        """Cluster-wide rules plus those RoleBindings grant in `namespace`."""
        return self.cluster_rules + (self.namespace_rules.get(namespace, []) if namespace else [])

    def allowed(self, a: Attributes) -> bool:
        return any(rule.allows(a) for rule in self.rules_for(a.namespace))

    def authorize(self, a: Attributes) -> None:
        """Record an allowed request, or raise the API server's 403 for a denied one."""
        if not self.allowed(a):
            with self._lock:
                self._denied.append(a)
            raise forbidden(a, self.user)
        with self._lock:
            self._used.add(Access(a.verb, a.group, a.resource, a.subresource, a.namespace or None))

    def check_binding(
        self,
        kind: str,
        namespace: str,
        name: str,
        role_ref: Mapping[str, Any],
        role_rules: list[Json],
    ) -> None:
        """The RBAC registry's escalation check for writing a (Cluster)RoleBinding.

        Raises:
            ApiError: 403 "is attempting to grant RBAC permissions not currently held".
        """
        ref_kind = role_ref.get("kind", "")
        bind = Attributes(
            "bind",
            RBAC_GROUP,
            "clusterroles" if ref_kind == "ClusterRole" else "roles",
            "",
            namespace,
            str(role_ref.get("name", "")),
        )
        if self.allowed(bind):
            with self._lock:
                self._used.add(Access("bind", RBAC_GROUP, bind.resource, "", namespace or None))
                self._bound.add(Bound(bind.resource, bind.name, namespace or None))
            return
        owner = self.rules_for(namespace)
        missing = [m for rule in role_rules for m in Rule.parse(rule).covered_by(owner)]
        if not missing:
            return
        plural = "clusterrolebindings" if kind == "ClusterRoleBinding" else "rolebindings"
        groups = " ".join(json.dumps(g) for g in self.groups)
        held = "\n".join(sorted({m.compact() for m in missing}))
        raise ApiError(
            403,
            "Forbidden",
            f'{plural}.{RBAC_GROUP} "{name}" is forbidden: user "{self.user}" (groups=[{groups}]) '
            f"is attempting to grant RBAC permissions not currently held:\n{held}",
            details={"name": name, "group": RBAC_GROUP, "kind": plural},
        )

    @property
    def used(self) -> set[Access]:
        with self._lock:
            return set(self._used)

    @property
    def bound(self) -> set[Bound]:
        """The roles bindings were written to by way of `bind` (resourceNames coverage)."""
        with self._lock:
            return set(self._bound)

    @property
    def denied(self) -> list[Attributes]:
        with self._lock:
            return list(self._denied)


def forbidden(a: Attributes, user: str) -> ApiError:
    """`responsewriters.Forbidden`: the Status a real API server answers a denied request with."""
    resource = a.resource + (f"/{a.subresource}" if a.subresource else "")
    scope = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    why = f'User "{user}" cannot {a.verb} resource "{resource}" in API group "{a.group}" {scope}'
    qualified = f"{a.resource}.{a.group}" if a.group else a.resource
    message = (
        f'{qualified} "{a.name}" is forbidden: {why}'
        if a.name
        else f"{qualified} is forbidden: {why}"
    )
    details: Json = {"name": a.name, "kind": a.resource} if a.name else {"kind": a.resource}
    if a.group:
        details["group"] = a.group
    return ApiError(403, "Forbidden", message, details=details)
