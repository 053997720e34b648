"""Cross-reference checks of the approval keys: break-glass roles and caps, escalation that has
someone to escalate to, and `approvals` on a template that asks for no approval."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from bot.domain.durations import format_duration
from bot.policy.types import to_duration

Problem = tuple[str, str]


def _section(value: object) -> dict[str, Any]:
    return {k: v for k, v in value.items() if isinstance(k, str)} if isinstance(value, dict) else {}


def _duration(value: object) -> timedelta | None:
    try:
        return to_duration(value)
    except ValueError:
        return None


def _escalation(path: str, base: dict[str, Any], override: dict[str, Any]) -> Iterator[Problem]:
    """`escalate_after` needs someone to escalate to, set here or inherited."""
    after = override.get("escalate_after", base.get("escalate_after"))
    to = override.get("escalate_to", base.get("escalate_to"))
    if after is not None and not to:
        yield (
            f"{path}.escalate_after",
            'needs escalate_to, the group pinged and made eligible (e.g. ["@platform-leads"])',
        )


def check_workspace_approvals(path: str, body: dict[str, Any]) -> Iterator[Problem]:
    """The workspace's `approvals`, its roles' overrides, and `break_glass`."""
    base = _section(body.get("approvals"))
    yield from _escalation(f"{path}.approvals", base, {})
    roles = _section(body.get("roles"))
    for name, role in roles.items():
        override = _section(_section(role).get("approvals"))
        if override:
            yield from _escalation(f"{path}.roles.{name}.approvals", base, override)
    glass = _section(body.get("break_glass"))
    if not glass:
        return
    cap = _duration(glass.get("max", "1h"))
    names = glass.get("roles")
    for name in names if isinstance(names, list) else ():
        if not isinstance(name, str):
            continue
        if name not in roles:
            known = ", ".join(sorted(roles)) or "none are defined"
            yield f"{path}.break_glass.roles", f'unknown role "{name}" (expected one of: {known})'
            continue
        role_max = _duration(_section(roles[name]).get("max"))
        if cap is not None and role_max is not None and cap > role_max:
            yield (
                f"{path}.break_glass.max",
                f"{format_duration(cap)} is longer than role {name}'s max "
                f"{format_duration(role_max)}",
            )


def check_template_approvals(
    path: str, body: dict[str, Any], workspace: dict[str, Any]
) -> Iterator[Problem]:
    """A template's `approvals` applies only with `approval: true`."""
    override = _section(body.get("approvals"))
    if not override:
        return
    if body.get("approval") is not True:
        yield f"{path}.approvals", "has no effect without approval: true; add it or remove this"
        return
    yield from _escalation(f"{path}.approvals", _section(workspace.get("approvals")), override)
