"""The access workflow as the kernel sees it: its machine, card and words."""

from __future__ import annotations

from datetime import timedelta

from bot.access import KIND, render
from bot.db.models import AccessRequest
from bot.domain.durations import format_duration
from bot.domain.states import ACCESS_MACHINE, AccessState
from bot.errors import UserError
from bot.lifecycle.extension import Limits
from bot.lifecycle.workflow import Workflow
from bot.policy import Policy
from bot.policy.approvals import Approvals
from bot.slack.ports import Directory, UserInfo


def _approvals(policy: Policy, req: AccessRequest) -> Approvals:
    """Its role's approval settings (its workspace's, when the role is gone)."""
    ws = policy.workspaces.get(req.workspace)
    if ws is None:
        return Approvals()
    return ws.role_approvals(req.role) if req.role in ws.roles else ws.approvals


ACCESS = Workflow(
    KIND, AccessRequest, ACCESS_MACHINE, render.request_card, render.plain_state,
    "access request", "/access list", "the grant is being applied", approvals=_approvals,
)  # fmt: skip


def grant_limits(policy: Policy, req: AccessRequest) -> Limits:
    """The role's extension step and cap (a break-glass grant's: the workspace's break-glass
    `max`), counted from activation. A role no longer in the policy allows no extension (its
    cap is the current expiry)."""
    ws = policy.workspaces.get(req.workspace)
    role = ws.roles.get(req.role) if ws else None
    expires = req.expires_at or req.created_at
    if role is None:
        rule = f"{req.role} is no longer a role of {req.workspace}, so {req.id}"
        return Limits(timedelta(hours=1), expires, rule + " cannot be extended")
    cap = role.max
    if req.break_glass and ws is not None and ws.break_glass is not None:
        cap = ws.break_glass.max  # an extension without approval stays within break-glass
    how = "break-glass " if req.break_glass else ""
    rule = (
        f"{how}{req.role} in {req.workspace} lasts at most {format_duration(cap)} from activation"
    )
    return Limits(role.extend_step, (req.activated_at or req.created_at) + cap, rule)


EXTENDABLE = (frozenset({AccessState.ACTIVE}), "an active grant")


def signer(directory: Directory, user_id: str) -> UserInfo:
    """The user asking for access, who signs in with their Slack email.

    Raises:
        UserError: their Slack profile has no email; says whom to ask.
    """
    user = directory.user(user_id)
    if not user.email:
        raise UserError(
            "your Slack profile has no email, which is your sign-in name; "
            "ask a Slack admin to add it"
        )
    return user
