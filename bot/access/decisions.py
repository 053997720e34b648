"""The shared core of the access use cases and the decision buttons: Approve, Deny (with an
optional reason) and Cancel, on the kernel's compare-and-set. An approval only commits
APPROVED and wakes the jobs; the grant job applies it (`grants.py`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.access.workflow import ACCESS
from bot.db.models import AccessRequest
from bot.lifecycle.context import Context, UseCases
from bot.lifecycle.decisions import Decision, Decisions, Verdict
from bot.lifecycle.moves import Lifecycle
from bot.lifecycle.render import deny_modal
from bot.slack.blocks import Message, text_message
from bot.slack.ports import ViewOpener


class AccessDecisions(UseCases):
    """The state and lookups every access use case needs, and the decision buttons."""

    def __init__(self, ctx: Context, views: ViewOpener) -> None:
        super().__init__(ctx)
        self.views = views
        self.life = Lifecycle(ACCESS, ctx.notifier)
        self.decisions = Decisions(
            self.life,
            ctx.clock,
            ctx.sessions,
            owners=lambda req: self.owners_of(req.workspace),
            effects=self._decided,
            wake=ctx.wake,
            record_note=True,
        )

    def approve(self, req_id: str, user_id: str) -> Message:
        """An owner approves: APPROVED is committed, and the grant job applies it at once."""
        req = self.decisions.approve(self._get(req_id), user_id)
        return text_message(f"Approved `{req.id}`; the grant is being applied.")

    def deny_form(self, req_id: str, user_id: str, trigger_id: str) -> Message:
        """Deny asks for an optional reason in a modal first."""
        req = self._get(req_id)
        self.decisions.check_open(req, user_id, "deny")
        self.views.open_view(trigger_id, deny_modal(ACCESS.kind, req.id))
        return {}

    def deny(self, req_id: str, user_id: str, note: str) -> Message:
        req = self.decisions.deny(self._get(req_id), user_id, note)
        return text_message(f"Denied `{req.id}`.")

    def cancel(self, req_id: str, user_id: str) -> Message:
        req = self.decisions.cancel(self._get(req_id), user_id)
        return text_message(f"Cancelled `{req.id}`.")

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

    def lookup(self, req_id: str) -> AccessRequest:
        """The request a button or command names.

        Raises:
            NotFound: there is no such request; the message says where to look.
        """
        return self._get(req_id)

    def _get(self, req_id: str) -> AccessRequest:
        return self.decisions.find(
            req_id, f'no access request "{req_id}"; /access list shows yours'
        )
