"""`/access request|list|extend|revoke|cancel` and the request modal, on top of the decisions
in `decisions.py` and the grants in `grants.py`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.access import ID_PREFIX, render
from bot.access.auto_approve import approve_by_rule, matching_rule
from bot.access.break_glass import BreakGlass
from bot.access.decisions import AccessDecisions
from bot.access.grants import GrantWorker
from bot.access.review import Reviews
from bot.access.workflow import signer
from bot.db.models import AccessRequest, new_id
from bot.domain.commands import Actor, Command
from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.domain.states import ACCESS_TERMINAL, AccessEvent, AccessState
from bot.domain.until import lifetime_until
from bot.errors import Conflict, NotAllowed, UserError
from bot.lifecycle.context import Context
from bot.policy import PolicyLookupError
from bot.slack.blocks import Message, lines_message, text_message
from bot.slack.ports import ViewOpener


class AccessService(AccessDecisions):
    """Use cases on access requests; each method returns the answer for the acting user."""

    def __init__(self, ctx: Context, views: ViewOpener, grants: GrantWorker) -> None:
        super().__init__(ctx, views)
        self.grants = grants
        self.glass = BreakGlass(ctx, self.life, views)  # /access break-glass
        self.reviews = Reviews(ctx)  # its Reviewed button and review job

    # -- request ----------------------------------------------------------------------------

    def request_command(self, cmd: Command, actor: Actor) -> Message:
        """With workspace, role, duration (or `--until`) and reason, file the request;
        otherwise open the form, pre-filled with what was given."""
        args = list(cmd.args)
        reason = cmd.options.get("reason", "")
        until = cmd.options.get("until")
        if until is not None and len(args) > 2:
            raise UserError(f'give a duration ("{args[2]}") or --until, not both')
        if until is not None and len(args) < 2:
            raise UserError(
                "--until needs the workspace and role first: "
                '`/access request <workspace> <role> --until "fri 18:00" "<reason>"`'
            )
        if until is not None and len(args) == 2:
            duration = self._until_duration(args[0], args[1], until, actor.user_id)
            args.append(duration)
        if len(args) == 3 and reason:
            return self.submit(actor.user_id, args[0], args[1], args[2], reason)
        if not actor.trigger_id:
            raise UserError(
                'usage: `/access request <workspace> <role> <duration | --until "fri 18:00"> '
                '"<reason>"`'
            )
        padded = [*args, "", "", ""]
        self.views.open_view(
            actor.trigger_id,
            render.request_modal(
                self.policy, workspace=padded[0], role=padded[1], duration=padded[2], reason=reason
            ),
        )
        return {}

    def _until_duration(self, workspace: str, role: str, until: str, user_id: str) -> str:
        """`--until` as the duration the request asks for (from now), within the role's cap."""
        try:
            cap = self.policy.workspace(workspace).role(role).max
        except PolicyLookupError:
            return "0m"  # validate() names the unknown workspace or role
        tz = self.directory.user(user_id).tz
        length = lifetime_until(until, self.clock.now(), tz, cap, f"the {role} role's")
        return f"{max(1, int(length.total_seconds() // 60))}m"

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
        user = signer(self.directory, user_id)
        ws = self.policy.workspace(workspace)
        now = self.clock.now()
        rule = matching_rule(self.policy, self.directory, user_id, (workspace, role), now)
        with self.sessions.begin() as s:
            self._refuse_duplicate(s, user_id, (workspace, role, parsed, reason))
            req = AccessRequest(
                id=new_id(ID_PREFIX),
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
            # A rule approves at once: no approvers to find, nobody to notify or escalate to.
            approvers = None if rule else self.opening.check(req)
            if approvers is not None:
                self.opening.arm(req, approvers, req.pending_until, now)
            self.life.open(
                s,
                req,
                "request",
                user_id,
                now,
                workspace=workspace,
                role=role,
                duration=format_duration(parsed),
                reason=req.reason,
            )
            if rule:
                approve_by_rule(self.life, s, req, rule, now)
            self.life.post_card(s, req, str(ws.approvals_channel), now, user_id)
            if approvers is not None:
                self.opening.notify(s, req, approvers, now)
        if rule:
            self.ctx.wake.wake()
            return text_message(
                f"Request `{req.id}` for {role} in {workspace} ({format_duration(parsed)}) was "
                f"auto-approved by rule {rule}. You will get a DM when the grant is active."
            )
        return text_message(
            f"Request `{req.id}` for {role} in {workspace} "
            f"({format_duration(parsed)}) went to the owners in "
            f"{ws.approvals_channel}. You will get a DM with the outcome."
        )

    # -- list / extend / revoke -------------------------------------------------------------

    def list(self, cmd: Command, actor: Actor) -> Message:
        now = self.clock.now()
        owned = self.owned_workspaces(actor.user_id)
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
        raw = cmd.args[1] if len(cmd.args) > 1 else None
        ext = self.extensions.extend(req.id, actor.user_id, raw, lambda s, row, ext: None)
        return text_message(
            f"Extended `{req.id}`: {format_duration(ext.new - self.clock.now())} left."
        )

    def extend_by_step(self, req_id: str, user_id: str) -> Message:
        """The Extend button on a reminder: the role's step, within the cap."""
        return self.extend(Command("access", "extend", (req_id,)), Actor(user_id))

    def revoke_command(self, cmd: Command, actor: Actor) -> Message:
        return self.revoke(cmd.arg(0, "a request id"), actor.user_id)

    def _refuse_duplicate(
        self, s: Session, user_id: str, req: tuple[str, str, timedelta, str]
    ) -> None:
        """Refuse asking again for what is already asked for (a pending request for the same
        workspace and role) or already granted (an active grant with the same duration and
        reason: an overlapping grant for other reasons stays possible). Names the one there is."""
        workspace, role, duration, reason = req
        open_states = (AccessState.PENDING, AccessState.APPROVED, AccessState.ACTIVE)
        found = s.scalars(
            select(AccessRequest)
            .where(
                AccessRequest.requester_id == user_id,
                AccessRequest.workspace == workspace,
                AccessRequest.role == role,
                AccessRequest.state.in_(open_states),
            )
            .order_by(AccessRequest.created_at)
        ).all()
        for other in found:
            if other.state == AccessState.PENDING:
                raise UserError(
                    f"you already asked for {role} in {workspace}: `{other.id}` waits for the "
                    f"owners; to ask differently, `/access cancel {other.id}` first"
                )
            same = other.duration_s == int(duration.total_seconds())
            if same and other.reason.strip().lower() == reason.strip().lower():
                raise UserError(
                    f"you already have {role} in {workspace} for this reason: `{other.id}`; "
                    f"to keep it longer, use `/access extend {other.id}`"
                )

    def cancel_command(self, cmd: Command, actor: Actor) -> Message:
        req = self._get(cmd.arg(0, "a request id"))
        if req.state in (AccessState.APPROVED, AccessState.ACTIVE, AccessState.FAILED):
            raise UserError(
                f"{req.id} was already approved, so it can no longer be cancelled; "
                f"to end the grant, use `/access revoke {req.id}`"
            )
        return self.cancel(req.id, actor.user_id)

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
        return text_message(f"Revoking `{req.id}`.")

    def retry(self, req_id: str, user_id: str) -> Message:
        req = self._get(req_id)
        self._authorize_holder(req, user_id, "retry")
        if not self.grants.transition(req.id, AccessEvent.RETRY, user_id):
            raise Conflict(f"{req.id} is no longer failed")
        return text_message(f"Retrying `{req.id}`.")

    def _authorize_holder(self, req: AccessRequest, user_id: str, verb: str) -> None:
        if user_id == req.requester_id or user_id in self.owners_of(req.workspace):
            return
        raise NotAllowed(
            f"only <@{req.requester_id}> or an owner of {req.workspace} can {verb} {req.id}"
        )
