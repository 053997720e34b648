"""Decisions on access requests: Approve, Deny (with an optional reason) and Cancel.

Decisions are compare-and-set: one conditional UPDATE moves PENDING to APPROVED or DENIED, so
exactly one of two owners clicking at once wins and the other is told who did. Backends are
called only after the decision commits (`access_grants.py`), never inside a transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from bot.blocks import Message, text_message
from bot.db.models import AccessRequest
from bot.domain.clock import Clock
from bot.domain.states import AccessEvent, AccessState, next_access_state
from bot.errors import Conflict, NotAllowed, NotFound
from bot.notify import Notifier
from bot.policy import Policy
from bot.services import render_access as render
from bot.services.access_grants import GrantWorker
from bot.services.audit import record
from bot.services.ports import Directory, ViewOpener
from bot.services.transitions import compare_and_set

OBJ = "access"


class AccessDecisions:
    """The state and lookups every access use case needs, and the decision buttons."""

    def __init__(
        self,
        policy: Policy,
        clock: Clock,
        sessions: sessionmaker[Session],
        directory: Directory,
        notifier: Notifier,
        grants: GrantWorker,
        views: ViewOpener,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.sessions = sessions
        self.directory = directory
        self.notifier = notifier
        self.grants = grants
        self.views = views

    # -- decisions --------------------------------------------------------------------------

    def approve(self, req_id: str, user_id: str) -> Message:
        """An owner approves: CAS PENDING->APPROVED, then the grant is applied."""
        req = self._get(req_id)
        self._authorize_decision(req, user_id, "approve")
        self._decide(req, user_id, AccessEvent.APPROVE, "")
        self.grants.activate(req.id)
        return text_message(f"Approved `{req.id}`; the grant is being applied.")

    def deny_form(self, req_id: str, user_id: str, trigger_id: str) -> Message:
        """Deny asks for an optional reason in a modal first."""
        req = self._get(req_id)
        self._authorize_decision(req, user_id, "deny")
        if req.state != AccessState.PENDING:
            raise Conflict(self._already(req))
        self.views.open_view(trigger_id, render.deny_modal(req.id))
        return {}

    def deny(self, req_id: str, user_id: str, note: str) -> Message:
        req = self._get(req_id)
        self._authorize_decision(req, user_id, "deny")
        self._decide(req, user_id, AccessEvent.DENY, note)
        return text_message(f"Denied `{req.id}`.")

    def cancel(self, req_id: str, user_id: str) -> Message:
        req = self._get(req_id)
        if user_id != req.requester_id:
            raise NotAllowed(f"only <@{req.requester_id}>, who asked, can cancel {req.id}")
        self._decide(req, user_id, AccessEvent.CANCEL, "")
        return text_message(f"Cancelled `{req.id}`.")

    def _authorize_decision(self, req: AccessRequest, user_id: str, verb: str) -> None:
        ws = self.policy.workspace(req.workspace)
        if user_id not in self.directory.members(ws.owners):
            raise NotAllowed(f"only owners of {req.workspace} can {verb}")
        if user_id == req.requester_id:
            raise NotAllowed(
                f"you cannot {verb} your own request, even as an owner; "
                f"another owner of {req.workspace} must decide"
            )

    def _decide(self, req: AccessRequest, user_id: str, event: AccessEvent, note: str) -> None:
        now = self.clock.now()
        target = next_access_state(AccessState.PENDING, event)
        with self.sessions.begin() as s:
            won = compare_and_set(
                s,
                AccessRequest,
                req.id,
                AccessState.PENDING,
                state=target,
                decided_by=user_id,
                decided_at=now,
                decision_note=note,
                updated_at=now,
                next_check_at=now,
            )
            if not won:
                s.rollback()
                raise Conflict(self._already(self._get(req.id)))
            fresh = s.get(AccessRequest, req.id, populate_existing=True)
            assert fresh is not None  # noqa: S101 - we just updated it
            record(
                s,
                at=now,
                actor=user_id,
                object_type=OBJ,
                object_id=req.id,
                action=event,
                from_state=AccessState.PENDING,
                to_state=target,
                note=note,
            )
            self.refresh(s, fresh, now)
            verb = {
                AccessEvent.APPROVE: "Approved",
                AccessEvent.DENY: "Denied",
                AccessEvent.CANCEL: "Cancelled",
            }[event]
            why = f": {note}" if note else ""
            self.notifier.thread(
                s,
                now=now,
                obj=(OBJ, req.id),
                key=f"decision:{target}",
                message=text_message(f"{verb} by <@{user_id}>{why}"),
            )
            if event == AccessEvent.DENY:
                self.notifier.dm(
                    s,
                    now=now,
                    user_id=fresh.requester_id,
                    key=f"denied:{req.id}",
                    message=text_message(
                        f"<@{user_id}> denied your request `{req.id}` for "
                        f"{req.role} in {req.workspace}{why}."
                    ),
                )

    def _already(self, req: AccessRequest) -> str:
        state = AccessState(req.state)
        if state in (
            AccessState.APPROVED,
            AccessState.ACTIVE,
            AccessState.FAILED,
            AccessState.REVOKING,
            AccessState.EXPIRED,
            AccessState.REVOKED,
        ):
            return f"{req.id} was already approved by <@{req.decided_by}>"
        if state == AccessState.DENIED:
            return f"{req.id} was already denied by <@{req.decided_by}>"
        return f"{req.id} is already {state.value.lower().replace('_', ' ')}"

    def refresh(self, s: Session, req: AccessRequest, now: datetime) -> None:
        """Queue the card's re-render from the request's current state."""
        s.flush()
        self.notifier.update_card(
            s,
            now=now,
            obj=(OBJ, req.id),
            version=req.version,
            message=render.request_card(req, now),
        )

    def _get(self, req_id: str) -> AccessRequest:
        with self.sessions() as s:
            req = s.get(AccessRequest, req_id.strip())
        if req is None:
            raise NotFound(f'no access request "{req_id}"; /access list shows yours')
        return req
