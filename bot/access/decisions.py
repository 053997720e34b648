"""The shared core of the access use cases and the decision buttons: Approve, Deny (with an
optional reason) and Cancel, on the kernel's compare-and-set. An approval only commits
APPROVED and wakes the jobs; the grant job applies it (`grants.py`)."""

from __future__ import annotations

from functools import partial

from sqlalchemy.orm import Session

from bot.access.workflow import ACCESS, EXTENDABLE, grant_limits
from bot.db.models import AccessRequest
from bot.lifecycle.approval_open import ApprovalOpening
from bot.lifecycle.context import Context, WorkflowUseCases
from bot.lifecycle.decisions import Decision, Decisions, Verdict
from bot.lifecycle.extension import Extensions
from bot.lifecycle.render import deny_modal
from bot.slack.blocks import Message
from bot.slack.ports import ViewOpener


class AccessDecisions(WorkflowUseCases[AccessRequest]):
    """The state and lookups every access use case needs, and the decision buttons."""

    def __init__(self, ctx: Context, views: ViewOpener) -> None:
        super().__init__(ctx, ACCESS)
        self.views = views
        self.decisions = Decisions(ctx, self.life, self._decided, record_note=True)
        self.opening = ApprovalOpening(ctx, self.life)
        self.extensions = Extensions(ctx, ACCESS, EXTENDABLE, partial(grant_limits, ctx.policy))
        self.approve, self.deny, self.cancel = (
            self.decisions.approve,
            self.decisions.deny,
            self.decisions.cancel,
        )
        self.lookup = self.decisions.find

    def deny_form(self, req_id: str, user_id: str, trigger_id: str) -> Message:
        """Deny asks for an optional reason in a modal first."""
        req = self.decisions.check_open(req_id, user_id, "deny")
        self.views.open_view(trigger_id, deny_modal(ACCESS.kind, req.id))
        return {}

    def _decided(self, s: Session, req: AccessRequest, decision: Decision) -> None:
        """A denial is told to the requester; an approval is told once the grant is applied."""
        if decision.verdict == Verdict.DENY:
            self.life.dm(
                s,
                req.requester_id,
                f"denied:{req.id}",
                decision.at,
                f"<@{decision.user_id}> denied your request `{req.id}` for "
                f"{req.role} in {req.workspace}{decision.why}.",
            )

    def refresh(self, s: Session, req: AccessRequest) -> None:
        """Queue the card's re-render from the request's current state."""
        self.life.refresh(s, req, self.clock.now())

    def _get(self, req_id: str) -> AccessRequest:
        return self.decisions.find(req_id)
