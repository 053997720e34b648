"""Who may decide a pending object: its workspace's owners without the one who asked, and the
escalation group once it escalated. Every Approve and Deny is authorized against this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.lifecycle.workflow import Workflow
from bot.policy import Policy, Principal, PrincipalKind
from bot.policy.approvals import Approvals
from bot.slack.ports import Directory


@dataclass(frozen=True)
class Approvers:
    """The approval settings of one object and the people they resolve to."""

    settings: Approvals
    owners: frozenset[str]  # the workspace's owners, minus the requester
    escalation: frozenset[str]  # the escalation group, minus the requester
    escalated: bool

    @property
    def eligible(self) -> frozenset[str]:
        """Who may approve or deny now."""
        return self.owners | self.escalation if self.escalated else self.owners

    @property
    def reachable(self) -> frozenset[str]:
        """Who may ever approve it, escalation included."""
        return self.owners | self.escalation

    @property
    def required(self) -> int:
        return self.settings.required


def approvers(policy: Policy, directory: Directory, workflow: Workflow[Any], obj: Any) -> Approvers:
    """Resolve the object's approvers now (the directory caches the groups)."""
    settings = workflow.approvals(policy, obj)
    ws = policy.workspaces.get(obj.workspace)
    owners = directory.members(ws.owners) if ws is not None else frozenset()
    escalation = directory.members(settings.escalate_to)
    me = {obj.requester_id}
    return Approvers(settings, owners - me, escalation - me, obj.escalated_at is not None)


def mention(directory: Directory, principals: tuple[Principal, ...]) -> str:
    """How a card or thread pings these principals: `<!subteam^ID>` for a user group (its id
    from usergroups.list), `<@U…>` for a user id; emails and unknown groups are left out."""
    out: list[str] = []
    for p in principals:
        if p.kind is PrincipalKind.GROUP:
            group_id = directory.group_id(p.value)
            if group_id:
                out.append(f"<!subteam^{group_id}>")
        elif p.kind is PrincipalKind.USER:
            out.append(f"<@{p.value}>")
    return " ".join(out)


def names(user_ids: frozenset[str] | list[str], most: int = 20) -> str:
    """`<@a>, <@b>` for at most `most` people, then "and N more"; "nobody" when empty."""
    ordered = sorted(user_ids)
    if not ordered:
        return "nobody"
    shown = ", ".join(f"<@{u}>" for u in ordered[:most])
    rest = len(ordered) - most
    return shown + (f" and {rest} more" if rest > 0 else "")
