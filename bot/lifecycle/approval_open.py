"""A new request for approval: refuse one that could never reach its threshold, write what its
card shows of the approvals, arm its escalation, and notify its approvers (`notify`)."""

from __future__ import annotations

from datetime import datetime
from typing import Generic

from sqlalchemy.orm import Session

from bot.errors import UserError
from bot.lifecycle.approval_view import ApprovalState
from bot.lifecycle.context import Context
from bot.lifecycle.eligible import Approvers, approvers, mention, names
from bot.lifecycle.moves import Lifecycle
from bot.lifecycle.workflow import T


class ApprovalOpening(Generic[T]):
    """Sets a pending object up for N of M approvals; used by every workflow that asks."""

    def __init__(self, ctx: Context, life: Lifecycle[T]) -> None:
        self.ctx = ctx
        self.life = life

    def check(self, obj: T) -> Approvers:
        """Who may approve `obj`.

        Raises:
            UserError: fewer people could ever approve it (escalation included) than it needs;
                names who could, and what to ask the owners.
        """
        who = approvers(self.ctx.policy, self.ctx.directory, self.life.workflow, obj)
        if len(who.reachable) < who.required:
            need = f"{who.required} approval" + ("s" if who.required > 1 else "")
            can = (
                f"only {len(who.reachable)} can ({names(who.reachable)})"
                if who.reachable
                else "nobody else can"
            )
            raise UserError(
                f"this request could never be approved: it needs {need} from someone other "
                f"than you, and {can} approve it in {obj.workspace} (escalation included). "
                f"Ask an owner of {obj.workspace} to add approvers, or to lower "
                "`approvals.required` in the policy"
            )
        return who

    def arm(self, obj: T, who: Approvers, until: datetime, now: datetime) -> None:
        """Write the card's approval view and when it escalates (before the card is posted)."""
        settings = who.settings
        ws = self.ctx.policy.workspaces.get(obj.workspace)
        ping = ""
        if ws is not None and settings.notify in ("channel", "both"):
            ping = mention(self.ctx.directory, ws.owners)
        after = settings.escalate_after
        obj.escalate_at = now + after if after is not None and settings.escalate_to else None
        # Named in plain text (`@platform-leads`): a mention would ping the group before it is due.
        later = ", ".join(str(p) for p in settings.escalate_to) if obj.escalate_at else ""
        obj.approval = ApprovalState(
            settings.required, (), who.eligible, until, ping, False, obj.escalate_at, later
        ).to_json()

    def notify(self, s: Session, obj: T, who: Approvers, now: datetime) -> None:
        """`notify: dm | both`: DM each eligible approver their copy of the card (the buttons
        they may press, same checks), kept in step with the card (`dm_copies`)."""
        if who.settings.notify not in ("dm", "both"):
            return
        for user_id in sorted(who.eligible):
            self.life.dm_copy(s, obj, user_id, f"approve:{obj.id}", now)
