"""A policy warning for escalation that can never happen: `escalate_after` not before the
workspace's `pending_timeout`, so an undecided request times out first (`policy check`)."""

from __future__ import annotations

from collections.abc import Iterator

from bot.domain.durations import format_duration
from bot.policy.approvals import Approvals, ApprovalsOverride
from bot.policy.models import Policy, Workspace


def escalation_warnings(policy: Policy) -> Iterator[tuple[str, str]]:
    """(key path, why and what to change) for each place whose escalation comes too late: the
    workspace's `approvals`, and each role or `approval: true` template that changes them."""
    for name, ws in policy.workspaces.items():
        path = f"workspaces.{name}"
        yield from _late(f"{path}.approvals", ws.approvals, ws, path)
        for role_name, role in ws.roles.items():
            if _sets_escalation(role.approvals):
                where = f"{path}.roles.{role_name}.approvals"
                yield from _late(where, ws.role_approvals(role_name), ws, path)
    for name, template in policy.templates.items():
        home = policy.workspaces.get(template.workspace)
        if home is None or not template.approval or not _sets_escalation(template.approvals):
            continue
        where = f"templates.{name}.approvals"
        ws_path = f"workspaces.{template.workspace}"
        yield from _late(where, policy.template_approvals(name), home, ws_path)


def _sets_escalation(override: ApprovalsOverride | None) -> bool:
    return override is not None and (
        override.escalate_after is not None or override.escalate_to is not None
    )


def _late(
    where: str, settings: Approvals, ws: Workspace, ws_path: str
) -> Iterator[tuple[str, str]]:
    after, timeout = settings.escalate_after, ws.pending_timeout
    if after is None or not settings.escalate_to or after < timeout:
        return
    late, wait = format_duration(after), format_duration(timeout)
    yield (
        f"{where}.escalate_after",
        f"{late} is not before {ws_path}.pending_timeout ({wait}), so a request times out "
        f"before it can ever escalate; set escalate_after below {wait} (or raise "
        "pending_timeout)",
    )
