"""Cross-reference checks across policy keys: names that must exist, caps, and backend needs.

They read the raw YAML data, leniently, so that they still run where another key of the same
workspace or template has a type error; a value that does not even parse is skipped here, because
the type validation already reports it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import time, timedelta
from typing import Any

from bot.domain.durations import format_duration
from bot.policy.approval_checks import check_template_approvals, check_workspace_approvals
from bot.policy.quantity import quantity_value
from bot.policy.types import DNS_LABEL, duration_text, to_duration, to_time

Problem = tuple[str, str]
"""A dotted key path and what is wrong there."""

_NAME_RULE = (
    'is not a valid name (use lowercase letters, digits and "-", at most 63 characters, '
    "starting and ending with a letter or digit)"
)
_ROLE_KEYS = {"kommander": ("workspace_role", "kommander_role"), "rbac": ("cluster_role",)}


def cross_check(data: Mapping[str, Any]) -> list[Problem]:
    """Run every cross-reference check on parsed policy data.

    Args:
        data: the top-level mapping that `yaml.safe_load` returned.

    Returns:
        Every problem found (workspaces, then templates, then reminders); empty when valid.
    """
    clusters = _names(data.get("clusters"))
    workspaces = _section(data.get("workspaces"))
    templates = _section(data.get("templates"))
    problems: list[Problem] = []
    for name, body in workspaces.items():
        problems.extend(_check_name("workspaces", name))
        problems.extend(_check_workspace(f"workspaces.{name}", _section(body), clusters))
    for name, body in templates.items():
        problems.extend(_check_name("templates", name))
        problems.extend(_check_template(name, _section(body), list(workspaces), clusters))
        workspace = _section(workspaces.get(_text(_section(body).get("workspace")) or ""))
        problems.extend(check_template_approvals(f"templates.{name}", _section(body), workspace))
    problems.extend(_check_reminders(_section(data.get("reminders"))))
    problems.extend(_check_cloud_accounts(workspaces, templates, _section(data.get("cleanup"))))
    return problems


def _section(value: object) -> dict[str, Any]:
    return {k: v for k, v in value.items() if isinstance(k, str)} if isinstance(value, dict) else {}


def _names(value: object) -> list[str]:
    return list(_section(value))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _duration(value: object) -> timedelta | None:
    try:
        return to_duration(value)
    except ValueError:
        return None


def _time(value: object) -> time | None:
    try:
        return to_time(value)
    except ValueError:
        return None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _choices(what: str, names: list[str]) -> str:
    if not names:
        return f"(no {what} are defined)"
    return f"(expected one of: {', '.join(sorted(names))})"


def _check_name(section: str, name: str) -> Iterator[Problem]:
    if not DNS_LABEL.fullmatch(name):
        yield f"{section}.{name}", f'"{name}" {_NAME_RULE}'


def _check_caps(path: str, body: dict[str, Any], keys: tuple[str, ...]) -> Iterator[Problem]:
    cap = _duration(body.get("max"))
    for key in keys:
        value = _duration(body.get(key))
        if cap is not None and value is not None and value > cap:
            message = f"{format_duration(value)} is longer than max {format_duration(cap)}"
            yield f"{path}.{key}", message


def _check_workspace(path: str, body: dict[str, Any], clusters: list[str]) -> Iterator[Problem]:
    if body.get("owners") == []:
        yield f"{path}.owners", "must name at least one owner (nobody could approve requests)"
    namespace = _text(body.get("namespace"))
    if namespace is not None and not DNS_LABEL.fullmatch(namespace):
        yield f"{path}.namespace", f'"{namespace}" {_NAME_RULE}'
    backend = body.get("access_backend", "kommander")
    cluster = body.get("cluster")
    if backend == "kommander":
        if body.get("namespace") is None:
            yield f"{path}.namespace", "required for access_backend kommander"
        if cluster is not None:
            yield f"{path}.cluster", "only for access_backend rbac"
    elif backend == "rbac":
        if cluster is None:
            yield f"{path}.cluster", "required for access_backend rbac"
        elif isinstance(cluster, str) and cluster not in clusters:
            yield f"{path}.cluster", f'unknown cluster "{cluster}" {_choices("clusters", clusters)}'
    for role_name, role in _section(body.get("roles")).items():
        yield from _check_role(f"{path}.roles.{role_name}", backend, _section(role))
    yield from check_workspace_approvals(path, body)


def _check_role(path: str, backend: object, body: dict[str, Any]) -> Iterator[Problem]:
    if backend in _ROLE_KEYS:
        needed = _ROLE_KEYS[str(backend)]
        other = "rbac" if backend == "kommander" else "kommander"
        for key in ("workspace_role", "kommander_role", "cluster_role"):
            present = body.get(key) is not None
            if key in needed and not present:
                yield f"{path}.{key}", f"required for access_backend {backend}"
            elif key not in needed and present:
                yield f"{path}.{key}", f"only for access_backend {other}"
    yield from _check_caps(path, body, ("extend_step",))


def _check_template(
    name: str, body: dict[str, Any], workspaces: list[str], clusters: list[str]
) -> Iterator[Problem]:
    path = f"templates.{name}"
    workspace = _text(body.get("workspace"))
    if workspace is not None and workspace not in workspaces:
        choices = _choices("workspaces", workspaces)
        yield f"{path}.workspace", f'unknown workspace "{workspace}" {choices}'
    yield from _check_caps(f"{path}.ttl", _section(body.get("ttl")), ("default", "extend_step"))
    quota = _section(body.get("quota"))
    per_user, total = _count(quota.get("per_user")), _count(quota.get("total"))
    if per_user is not None and total is not None and per_user > total:
        yield f"{path}.quota.per_user", f"{per_user} is more than total {total}"
    cluster = body.get("cluster")
    is_ref = isinstance(cluster, dict) and "ref" in cluster
    kind = body.get("kind")
    if kind == "cluster":
        if cluster is None:
            yield f"{path}.cluster", "required for kind cluster (manifests or topology)"
        elif is_ref:
            yield (
                f"{path}.cluster.ref",
                "only for kind namespace; kind cluster needs manifests or topology",
            )
        if "namespace" in body:
            yield f"{path}.namespace", "only for kind namespace"
    elif kind == "namespace":
        if cluster is None:
            yield f"{path}.cluster.ref", "required for kind namespace"
        elif isinstance(cluster, dict) and not is_ref:
            yield (
                f"{path}.cluster.ref",
                "required for kind namespace (instead of manifests or topology)",
            )
        elif isinstance(cluster, dict):
            ref = cluster["ref"]
            if isinstance(ref, str) and ref not in clusters:
                choices = _choices("clusters", clusters)
                yield f"{path}.cluster.ref", f'unknown cluster "{ref}" {choices}'
        yield from _check_limit_range(
            f"{path}.namespace.limit_range", _section(body.get("namespace"))
        )


def _check_limit_range(path: str, namespace: dict[str, Any]) -> Iterator[Problem]:
    """A default request above the default limit: the API server would refuse the LimitRange."""
    limits = _section(namespace.get("limit_range"))
    requests, defaults = _section(limits.get("default_request")), _section(limits.get("default"))
    for resource in sorted(set(requests) & set(defaults)):
        try:
            above = quantity_value(str(requests[resource])) > quantity_value(
                str(defaults[resource])
            )
        except ValueError:
            continue  # the type validation reports it
        if above:
            yield (
                f"{path}.default_request.{resource}",
                f"{requests[resource]} is more than default.{resource} {defaults[resource]} "
                "(the API server refuses such a LimitRange)",
            )


def _check_reminders(body: dict[str, Any]) -> Iterator[Problem]:
    before = body.get("before")
    seen: set[timedelta] = set()
    for value in before if isinstance(before, list) else ():
        threshold = _duration(value)
        if threshold is not None and threshold in seen:
            yield "reminders.before", f"lists {duration_text(threshold)} twice"
        if threshold is not None:
            seen.add(threshold)
    quiet = _section(body.get("quiet_hours"))
    start, end = _time(quiet.get("start")), _time(quiet.get("end"))
    if start is not None and start == end:
        shown = start.strftime("%H:%M")
        yield (
            "reminders.quiet_hours.end",
            f'same as start ("{shown}"); leave quiet_hours out for none',
        )


def _check_cloud_accounts(
    workspaces: dict[str, Any], templates: dict[str, Any], cleanup: dict[str, Any]
) -> Iterator[Problem]:
    """Every workspace with clusters says how its AWS leftovers are cleaned up."""
    if cleanup.get("region") is not None:
        return
    users: dict[str, list[str]] = {}
    for name, body in templates.items():
        template = _section(body)
        workspace = _text(template.get("workspace"))
        if template.get("kind") == "cluster" and template.get("backend") != "fake" and workspace:
            users.setdefault(workspace, []).append(name)
    for workspace, names in sorted(users.items()):
        body = _section(workspaces.get(workspace))
        if workspace in workspaces and body.get("aws") is None:
            yield (
                f"workspaces.{workspace}.aws",
                f"required for cluster templates ({', '.join(sorted(names))}) unless "
                "cleanup.region is set: cloud cleanup after a cluster is deleted runs as this "
                "role, or as envbot's own AWS identity in cleanup.region",
            )
