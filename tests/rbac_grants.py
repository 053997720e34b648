"""What a shipped RBAC manifest grants envbot, one (role, apiGroup, resource, verb, resourceName)
at a time, and which of those grants a set of recorded requests never used.

A grant counts as used when some authorized request had its group, resource (with subresource)
and verb in a scope where the role is bound to envbot: anywhere for a ClusterRoleBinding, the
binding's namespace for a RoleBinding. A `bind` grant limited by resourceNames counts only when a
binding to that very role passed the escalation check by it. Wildcards are not expanded: a `*`
in a shipped rule is reported as such, because "everything" can never be shown to be needed.
resourceNames on any other verb are never counted as used (an `Access` carries no name): such a
rule would be listed, and this module taught to count it, before it could ship.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.demo.kube.authz import ENVBOT_USER, Access, Bound

ANYWHERE = "*"  # the scope of a ClusterRoleBinding


@dataclass(frozen=True, order=True)
class Grant:
    """One atom of a rule of a role bound to envbot."""

    role: str  # Kind/name of the (Cluster)Role
    group: str
    resource: str
    verb: str
    name: str = ""  # the resourceName, "" when the rule names none

    def __str__(self) -> str:
        named = f" {self.name}" if self.name else ""
        return f"{self.role}: {self.verb} {self.resource}{named} ({self.group or 'core'})"


@dataclass(frozen=True)
class Shipped:
    """The grants of one manifest and where each role is bound to envbot."""

    grants: frozenset[Grant]
    scopes: Mapping[str, frozenset[str]]  # role -> namespaces it is bound in, or {ANYWHERE}
    wildcards: tuple[str, ...]  # rules that say `*`, in words
    binding_scopes: frozenset[str]  # every namespace (or ANYWHERE) a binding to envbot covers


def _binds_envbot(binding: Mapping[str, Any], user: str) -> bool:
    return any(
        s.get("kind") == "ServiceAccount"
        and f"system:serviceaccount:{s.get('namespace')}:{s.get('name')}" == user
        for s in binding.get("subjects") or []
    )


def _role_key(kind: str, name: str) -> str:
    return f"{kind}/{name}"


def load(path: Path, user: str = ENVBOT_USER) -> Shipped:
    """Read the (Cluster)Roles and the bindings to `user` of a multi-document manifest."""
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return shipped(docs, user)


def shipped(docs: Iterable[Mapping[str, Any]], user: str = ENVBOT_USER) -> Shipped:
    """The grants of already-parsed manifest documents."""
    docs = list(docs)
    scopes: dict[str, set[str]] = {}
    for d in docs:
        if d.get("kind") not in ("ClusterRoleBinding", "RoleBinding") or not _binds_envbot(d, user):
            continue
        ref = d.get("roleRef") or {}
        where = ANYWHERE if d["kind"] == "ClusterRoleBinding" else d["metadata"]["namespace"]
        scopes.setdefault(_role_key(ref.get("kind", ""), ref.get("name", "")), set()).add(where)
    grants: set[Grant] = set()
    wildcards: list[str] = []
    for d in docs:
        if d.get("kind") not in ("ClusterRole", "Role"):
            continue
        role = _role_key(d["kind"], d["metadata"]["name"])
        for rule in d.get("rules") or []:
            fields = [rule.get(k) or [] for k in ("apiGroups", "resources", "verbs")]
            if rule.get("nonResourceURLs") or any(
                v == "*" or v.startswith("*/") for f in fields for v in f
            ):
                wildcards.append(f"{role}: {rule}")
                continue
            for group in fields[0]:
                for resource in fields[1]:
                    for verb in fields[2]:
                        for name in rule.get("resourceNames") or [""]:
                            grants.add(Grant(role, group, resource, verb, name))
    return Shipped(
        frozenset(grants),
        {role: frozenset(where) for role, where in scopes.items()},
        tuple(wildcards),
        frozenset(w for where in scopes.values() for w in where),
    )


def _in_scope(namespace: str | None, scope: frozenset[str]) -> bool:
    return ANYWHERE in scope or (namespace is not None and namespace in scope)


def unused(rbac: Shipped, used: Iterable[Access], bound: Iterable[Bound]) -> list[Grant]:
    """The grants no recorded request needed, sorted."""
    used, bound = set(used), set(bound)
    missing: list[Grant] = []
    for grant in sorted(rbac.grants):
        scope = rbac.scopes.get(grant.role, frozenset())
        if grant.name:
            hit = grant.verb == "bind" and any(
                b.resource == grant.resource
                and b.name == grant.name
                and _in_scope(b.namespace, scope)
                for b in bound
            )
        else:
            hit = any(
                (a.group, _resource(a), a.verb) == (grant.group, grant.resource, grant.verb)
                and _in_scope(a.namespace, scope)
                for a in used
            )
        if not hit:
            missing.append(grant)
    return missing


def idle_bindings(rbac: Shipped, used: Iterable[Access]) -> list[str]:
    """Namespaces a RoleBinding gives envbot rules in that no recorded request touched."""
    touched = {a.namespace for a in used}
    return sorted(s for s in rbac.binding_scopes if s != ANYWHERE and s not in touched)


def _resource(a: Access) -> str:
    return f"{a.resource}/{a.subresource}" if a.subresource else a.resource
