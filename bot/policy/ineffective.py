"""Policy keys that are valid but change nothing, for `envbot policy check` to warn about.

Like the cross-reference checks, these read the raw YAML data leniently. A key that is wrong
for its context (`namespace:` on a cluster template, `cluster_role` on a kommander role) is an
error there; here are only the keys that something else in the policy makes pointless.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from bot.policy.checks import Problem

# libyaml when installed: the pure-Python parser takes ~10x as long (start-up, every render)
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_PREFIX = "has no effect: "


def _section(value: object) -> dict[str, Any]:
    return {k: v for k, v in value.items() if isinstance(k, str)} if isinstance(value, dict) else {}


def ineffective_keys(data: Mapping[str, Any]) -> list[Problem]:
    """Every key of parsed policy data that has no effect, with why, in file order of sections."""
    workspaces = _section(data.get("workspaces"))
    templates = {name: _section(body) for name, body in _section(data.get("templates")).items()}
    real = {n: t for n, t in templates.items() if t.get("backend") != "fake"}
    clustered = {str(t.get("workspace")) for t in real.values() if t.get("kind") == "cluster"}
    problems: list[Problem] = []
    problems.extend(_management(_section(data.get("management")), workspaces))
    problems.extend(_clusters(_section(data.get("clusters")), workspaces, templates))
    for name, body in workspaces.items():
        problems.extend(
            _workspace(f"workspaces.{name}", name, _section(body), clustered, templates)
        )
    problems.extend(_reminders(_section(data.get("reminders"))))
    cleanup = _section(data.get("cleanup"))
    cleaned = cleanup.get("region") is not None or any(
        _section(workspaces.get(w)).get("aws") is not None for w in clustered
    )
    problems.extend(_dns(_section(data.get("dns")), data.get("dns") is not None, cleaned))
    if not clustered:
        for key in ("delete", "region"):
            if cleanup.get(key):
                why = "no template makes clusters, so there is never a cloud cleanup"
                problems.append((f"cleanup.{key}", _PREFIX + why))
    return problems


def _management(management: dict[str, Any], workspaces: dict[str, Any]) -> Iterator[Problem]:
    kommander = any(
        _section(ws).get("access_backend", "kommander") == "kommander" for ws in workspaces.values()
    )
    if management.get("global_view") is not None and not kommander:
        yield (
            "management.global_view",
            _PREFIX + "it is added to kommander grants, and no workspace uses access_backend "
            "kommander",
        )


def _clusters(
    clusters: dict[str, Any], workspaces: dict[str, Any], templates: dict[str, dict[str, Any]]
) -> Iterator[Problem]:
    used = {_section(ws).get("cluster") for ws in workspaces.values()}
    used |= {_section(t.get("cluster")).get("ref") for t in templates.values()}
    for name in clusters:
        if name not in used:
            yield (
                f"clusters.{name}",
                _PREFIX
                + "no namespace template (cluster.ref) or rbac workspace (cluster) names it",
            )


def _workspace(
    path: str,
    name: str,
    body: dict[str, Any],
    clustered: set[str],
    templates: dict[str, dict[str, Any]],
) -> Iterator[Problem]:
    if body.get("aws") is not None and name not in clustered:
        yield (
            f"{path}.aws",
            _PREFIX + "it is used for cloud cleanup after a cluster, and no kind cluster "
            "template uses this workspace",
        )
    approvals = any(t.get("workspace") == name and t.get("approval") for t in templates.values())
    if "pending_timeout" in body and not _section(body.get("roles")) and not approvals:
        yield (
            f"{path}.pending_timeout",
            _PREFIX + "nothing here waits for approval (no roles, no template with approval)",
        )


def _reminders(reminders: dict[str, Any]) -> Iterator[Problem]:
    if reminders.get("quiet_hours") is not None and reminders.get("before") == []:
        yield (
            "reminders.quiet_hours",
            _PREFIX + "reminders.before is empty, so no reminder is ever sent",
        )


def _dns(dns: dict[str, Any], present: bool, cleaned: bool) -> Iterator[Problem]:
    if not present:
        return
    if dns.get("zones") == []:
        for key in ("txt_prefix", "txt_owner_id"):
            if key in dns:
                yield f"dns.{key}", _PREFIX + "dns.zones is empty, so no record is looked at"
    elif not cleaned:
        yield (
            "dns",
            _PREFIX + "records are removed by the cloud cleanup, and no workspace with a cluster "
            "template has aws (nor is cleanup.region set)",
        )


def check_policy_warnings(path: Path) -> list[str]:
    """`<file>: <key.path>: has no effect: <why>` for each such key; empty if unreadable.

    An unreadable or invalid file is reported by `check_policy_file`; this adds nothing then.
    """
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not isinstance(data, dict):
        return []
    return [f"{path.name}: {key}: {why}" for key, why in ineffective_keys(data)]
