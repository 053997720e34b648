"""Auto-approval rules (`roles.<r>.auto_approve`): a request by a member of the rule's groups,
made inside its window in the requester's own Slack time zone, is approved at once by the rule,
through the kernel's move (audited `auto_approved` with the rule's name)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.db.models import AccessRequest
from bot.domain.states import AccessEvent
from bot.domain.until import user_zone
from bot.lifecycle.moves import Lifecycle
from bot.policy import Policy
from bot.slack.ports import Directory

RULE_PREFIX = "rule:"
DECIDER_LENGTH = 32  # access_requests.decided_by


def matching_rule(
    policy: Policy, directory: Directory, user_id: str, where: tuple[str, str], now: datetime
) -> str | None:
    """The name of the rule that approves `user_id`'s request for `where` (workspace, role) at
    `now`, or None (no rule, not a member, or outside the window in the user's time zone)."""
    workspace, role = where
    ws = policy.workspaces.get(workspace)
    found = ws.roles.get(role) if ws is not None else None
    rule = found.auto_approve if found is not None else None
    if rule is None or user_id not in directory.members(rule.members_of):
        return None
    if rule.during is not None:
        local = now.astimezone(user_zone(directory.user(user_id).tz))
        if not rule.during.contains(local):
            return None
    return rule.rule_name(role)


def rule_actor(rule: str) -> str:
    """Who decided, as the request row and the audit name a rule: `rule:view-hours`."""
    return (RULE_PREFIX + rule)[:DECIDER_LENGTH]


def approve_by_rule(
    life: Lifecycle[AccessRequest], s: Session, req: AccessRequest, rule: str, now: datetime
) -> None:
    """Move the new PENDING request to APPROVED as the rule, in the caller's transaction; the
    caller wakes the jobs after the commit so the grant is applied at once."""
    actor = rule_actor(rule)
    req.decided_by = actor
    req.decided_at = now
    life.move(s, req, AccessEvent.APPROVE, actor, now, as_action="auto_approved", rule=rule)
    life.thread(s, req, "auto-approved", now, f"Auto-approved by rule {rule}")


def approved_words(req: AccessRequest) -> str:
    """Who let the request through, in words: `auto-approved by rule view-hours`,
    `granted by break-glass` or `approved by <@U…>`."""
    if req.decided_by.startswith(RULE_PREFIX):
        return f"auto-approved by rule {req.decided_by.removeprefix(RULE_PREFIX)}"
    if req.break_glass:
        return "granted by break-glass, without approval"
    return f"approved by <@{req.decided_by}>"
