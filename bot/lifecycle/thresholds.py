"""`envbot doctor`'s look at approval thresholds: each role's and approval template's
`approvals.required` against the approvers its principals resolve to in Slack now."""

from __future__ import annotations

from collections.abc import Iterator

from bot.lifecycle.eligible import names
from bot.policy import Policy
from bot.policy.approvals import Approvals
from bot.slack.ports import Directory


def _subjects(policy: Policy) -> Iterator[tuple[str, str, Approvals]]:
    """(key path, workspace, settings) of every role and every `approval: true` template."""
    for ws_name, ws in policy.workspaces.items():
        for role in ws.roles:
            yield f"workspaces.{ws_name}.roles.{role}", ws_name, ws.role_approvals(role)
    for name, template in policy.templates.items():
        if template.approval and template.workspace in policy.workspaces:
            yield f"templates.{name}", template.workspace, policy.template_approvals(name)


def threshold_warnings(policy: Policy, directory: Directory) -> list[str]:
    """One line per threshold higher than the approvers who resolve: never reachable (every
    request refused), unreachable for a request by one of them, or reachable only after
    escalation."""
    out: list[str] = []
    for path, ws_name, settings in _subjects(policy):
        owners = directory.members(policy.workspaces[ws_name].owners)
        everyone = owners | directory.members(settings.escalate_to)
        need = settings.required
        if need > len(everyone):
            out.append(
                f"{path}: approvals.required is {need} but only {len(everyone)} approver(s) "
                f"resolve ({names(everyone)}): every request will be refused; add owners or "
                "escalate_to members, or lower it"
            )
            continue
        if need > len(owners):
            out.append(
                f"{path}: approvals.required is {need} but {ws_name} has {len(owners)} "
                f"owner(s) ({names(owners)}): no request is approved before it escalates"
            )
        if need == len(everyone) > 1:  # 1 of a lone owner: their own requests, as ever
            out.append(
                f"{path}: approvals.required is {need} and exactly {need} approver(s) resolve "
                f"({names(everyone)}): a request by one of them will be refused (the requester "
                "never counts); add owners or escalate_to members, or lower it"
            )
    return out
