"""`/access request|list|extend|revoke|cancel`, the request modal and the decision buttons.

Decisions are compare-and-set: one conditional UPDATE moves PENDING to APPROVED or DENIED, so
exactly one of two owners clicking at once wins and the other is told who did. Backends are
called only after the decision commits (`access_grants.py`), never inside a transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks import Message, lines_message, text_message
from bot.db.models import AccessRequest, new_id
from bot.domain.clock import Clock
from bot.domain.commands import Command
from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.domain.states import ACCESS_TERMINAL, AccessEvent, AccessState, next_access_state
from bot.errors import Conflict, NotAllowed, NotFound, UserError
from bot.notify import Notifier
from bot.policy import Policy, PolicyLookupError
from bot.services import render_access as render
from bot.services.access_grants import GrantWorker
from bot.services.audit import record
from bot.services.commands import Actor
from bot.services.ports import Directory, ViewOpener
from bot.services.transitions import compare_and_set

OBJ = "access"


class AccessService:
    """Use cases on access requests; each method returns the answer for the acting user."""

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

    # -- request ----------------------------------------------------------------------------

    def request_command(self, cmd: Command, actor: Actor) -> Message:
        """With all four arguments, file the request; otherwise open the form, pre-filled."""
        args = list(cmd.args)
        if len(args) >= 4:
            return self.submit(actor.user_id, args[0], args[1], args[2], " ".join(args[3:]))
        if not actor.trigger_id:
            raise UserError("usage: `/access request <workspace> <role> <duration> <reason>`")
        padded = [*args, "", "", "", ""]
        self.views.open_view(
            actor.trigger_id,
            render.request_modal(
                self.policy, workspace=padded[0], role=padded[1], duration=padded[2]
            ),
        )
        return {}

    def validate(
        self, workspace: str, role: str, duration: str, reason: str
    ) -> tuple[timedelta, dict[str, str]]:
        """Check a request; returns the duration and field errors (empty when valid)."""
        errors: dict[str, str] = {}
        parsed = timedelta(0)
        try:
            ws = self.policy.workspace(workspace)
        except PolicyLookupError as exc:
            return parsed, {"workspace": str(exc)}
        try:
            cap = ws.role(role).max
        except PolicyLookupError:
            names = ", ".join(sorted(ws.roles)) or "none"
            return parsed, {
                "role": f'role "{role}" cannot be requested in {workspace} '
                f"(requestable there: {names})"
            }
        try:
            parsed = parse_duration(duration)
        except DurationError as exc:
            errors["duration"] = str(exc)
        else:
            if parsed > cap:
                errors["duration"] = (
                    f"{duration} is over the {role} role's maximum of "
                    f"{format_duration(cap)} in {workspace}; ask for that or less"
                )
        if not reason.strip():
            errors["reason"] = "a reason is required, so the owners know why"
        return parsed, errors

    def submit(
        self, user_id: str, workspace: str, role: str, duration: str, reason: str
    ) -> Message:
        """File a request and post its approval card.

        Raises:
            UserError: an invalid field; the message quotes it and says what to do.
        """
        parsed, errors = self.validate(workspace, role, duration, reason)
        if errors:
            raise UserError("; ".join(errors.values()))
        user = self.directory.user(user_id)
        if not user.email:
            raise UserError(
                "your Slack profile has no email, which is your sign-in name; "
                "ask a Slack admin to add it"
            )
        ws = self.policy.workspace(workspace)
        now = self.clock.now()
        with self.sessions.begin() as s:
            req = AccessRequest(
                id=new_id("r"),
                requester_id=user_id,
                subject=user.email,
                workspace=workspace,
                role=role,
                backend=ws.access_backend,
                duration_s=int(parsed.total_seconds()),
                reason=reason.strip(),
                state=AccessState.PENDING,
                created_at=now,
                updated_at=now,
                pending_until=now + ws.pending_timeout,
                decided_by="",
                decision_note="",
                end_reason="",
                attempts=0,
                failure="",
            )
            s.add(req)
            record(
                s,
                at=now,
                actor=user_id,
                object_type=OBJ,
                object_id=req.id,
                action="request",
                to_state=AccessState.PENDING,
                workspace=workspace,
                role=role,
                duration=format_duration(parsed),
                reason=req.reason,
            )
            self.notifier.card(
                s,
                now=now,
                obj=(OBJ, req.id),
                channel=str(ws.approvals_channel),
                message=render.request_card(req, now),
            )
        return text_message(
            f"Request `{req.id}` for {role} in {workspace} "
            f"({format_duration(parsed)}) went to the owners in "
            f"{ws.approvals_channel}. You will get a DM with the outcome."
        )

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

    # -- list / extend / revoke -------------------------------------------------------------

    def list(self, cmd: Command, actor: Actor) -> Message:
        now = self.clock.now()
        owned = [
            n
            for n, ws in self.policy.workspaces.items()
            if actor.user_id in self.directory.members(ws.owners)
        ]
        with self.sessions() as s:
            reqs = s.scalars(
                select(AccessRequest)
                .where(
                    or_(
                        AccessRequest.requester_id == actor.user_id,
                        AccessRequest.workspace.in_(owned),
                    ),
                    AccessRequest.state.not_in(list(ACCESS_TERMINAL)),
                )
                .order_by(AccessRequest.created_at)
            ).all()
        if not reqs:
            return text_message("No open requests or grants. Ask with /access request.")
        title = "Requests and grants" + (f" (you own {', '.join(owned)})" if owned else "")
        return lines_message(title, [render.request_line(r, now) for r in reqs])

    def extend(self, cmd: Command, actor: Actor) -> Message:
        req = self._get(cmd.arg(0, "a request id"))
        self._authorize_holder(req, actor.user_id, "extend")
        role = self.policy.workspace(req.workspace).role(req.role)
        raw = cmd.args[1] if len(cmd.args) > 1 else None
        try:
            step = parse_duration(raw) if raw else role.extend_step
        except DurationError as exc:
            raise UserError(str(exc)) from None
        now = self.clock.now()
        with self.sessions.begin() as s:
            fresh = s.get(AccessRequest, req.id, with_for_update=True)
            assert fresh is not None  # noqa: S101 - found above
            if fresh.state != AccessState.ACTIVE or fresh.expires_at is None:
                raise UserError(
                    f"{req.id} is {render.state_word(fresh, now)}; only an active "
                    "grant can be extended"
                )
            assert fresh.activated_at is not None  # noqa: S101 - ACTIVE has it
            cap = fresh.activated_at + role.max
            wanted = fresh.expires_at + step
            if wanted > cap and (raw or fresh.expires_at >= cap):
                raise UserError(
                    f"{req.role} in {req.workspace} lasts at most "
                    f"{format_duration(role.max)} from activation (until "
                    f"{cap:%Y-%m-%d %H:%M} UTC); it expires "
                    f"{fresh.expires_at:%Y-%m-%d %H:%M} UTC"
                )
            old, fresh.expires_at = fresh.expires_at, min(wanted, cap)
            fresh.updated_at = now
            record(
                s,
                at=now,
                actor=actor.user_id,
                object_type=OBJ,
                object_id=req.id,
                action="extend",
                from_state=fresh.state,
                to_state=fresh.state,
                old_expiry=old.isoformat(),
                new_expiry=fresh.expires_at.isoformat(),
            )
            self.refresh(s, fresh, now)
            left = format_duration(fresh.expires_at - now)
        return text_message(f"Extended `{req.id}`: {left} left.")

    def extend_by_step(self, req_id: str, user_id: str) -> Message:
        """The Extend button on a reminder: the role's step, within the cap."""
        return self.extend(Command("access", "extend", (req_id,)), Actor(user_id))

    def revoke_command(self, cmd: Command, actor: Actor) -> Message:
        return self.revoke(cmd.arg(0, "a request id"), actor.user_id)

    def cancel_command(self, cmd: Command, actor: Actor) -> Message:
        return self.cancel(cmd.arg(0, "a request id"), actor.user_id)

    def revoke(self, req_id: str, user_id: str) -> Message:
        """End a grant early (the requester or an owner); a pending request is cancelled."""
        req = self._get(req_id)
        if req.state == AccessState.PENDING:
            return self.cancel(req_id, user_id)
        self._authorize_holder(req, user_id, "revoke")
        event = AccessEvent.CLEAN_UP if req.state == AccessState.FAILED else AccessEvent.REVOKE
        if not self.grants.start_revoke(req.id, event, user_id, "revoked"):
            raise Conflict(
                f"{req.id} is {render.state_word(req, self.clock.now())}; nothing to revoke"
            )
        self.grants.finish_revoke(req.id)
        return text_message(f"Revoking `{req.id}`.")

    def retry(self, req_id: str, user_id: str) -> Message:
        req = self._get(req_id)
        self._authorize_holder(req, user_id, "retry")
        if not self.grants.retry(req.id, user_id):
            raise Conflict(f"{req.id} is no longer failed")
        self.grants.activate(req.id)
        return text_message(f"Retrying `{req.id}`.")

    def _authorize_holder(self, req: AccessRequest, user_id: str, verb: str) -> None:
        if user_id == req.requester_id:
            return
        ws = self.policy.workspaces.get(req.workspace)
        if ws is not None and user_id in self.directory.members(ws.owners):
            return
        raise NotAllowed(
            f"only <@{req.requester_id}> or an owner of {req.workspace} can {verb} {req.id}"
        )

    def _get(self, req_id: str) -> AccessRequest:
        with self.sessions() as s:
            req = s.get(AccessRequest, req_id.strip())
        if req is None:
            raise NotFound(f'no access request "{req_id}"; /access list shows yours')
        return req
