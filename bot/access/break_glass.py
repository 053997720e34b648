"""`/access break-glass <workspace> <role> <duration> "<reason>"` (and its form): access at once,
without approval, for the people and roles a workspace's `break_glass` names, up to its `max`.

The request is created APPROVED (the grant job applies it, as after any approval), marked
`break_glass`, audited `break_glass`; its loud card goes to the approvals channel and every owner
gets a DM. An owner then marks it reviewed (`review.py`), reminded and escalated if nobody does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.access import ID_PREFIX
from bot.access.glass_card import HEADER
from bot.access.workflow import signer
from bot.db.models import AccessRequest, new_id
from bot.domain.commands import Actor, Command
from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.domain.states import AccessState
from bot.errors import UserError
from bot.lifecycle.context import Context, UseCases
from bot.lifecycle.moves import Lifecycle
from bot.policy import PolicyLookupError, Workspace
from bot.policy.approvals import BreakGlass as GlassPolicy
from bot.slack.acted import slack_time
from bot.slack.blocks import CallbackId, Message, input_select, input_text, modal, text_message
from bot.slack.ports import ViewOpener

USAGE = '/access break-glass <workspace> <role> <duration> "<reason>"'
OPEN = (AccessState.APPROVED, AccessState.ACTIVE)


class BreakGlass(UseCases):
    """Grants a break-glass role at once, or says exactly why not."""

    def __init__(self, ctx: Context, life: Lifecycle[AccessRequest], views: ViewOpener) -> None:
        super().__init__(ctx)
        self.life = life
        self.views = views

    def command(self, cmd: Command, actor: Actor) -> Message:
        """With every argument, grant; otherwise open the form, pre-filled with what was given."""
        args = list(cmd.args)
        reason = cmd.options.get("reason", "")
        if len(args) == 3 and reason:
            return self.grant(actor.user_id, args[0], args[1], args[2], reason)
        if not actor.trigger_id:
            raise UserError(f"usage: `{USAGE}`")
        padded = [*args, "", "", ""]
        self.views.open_view(actor.trigger_id, self.form(padded[0], padded[1], padded[2], reason))
        return {}

    def form(self, workspace: str, role: str, duration: str, reason: str) -> dict[str, object]:
        """The break-glass form: the workspaces and roles that have break-glass."""
        glass = {n: ws.break_glass for n, ws in self.policy.workspaces.items() if ws.break_glass}
        roles = sorted({r for g in glass.values() if g for r in g.roles})
        return modal(
            CallbackId.BREAK_GLASS,
            "Break glass",
            [
                input_select("workspace", "Workspace", sorted(glass), initial=workspace),
                input_select("role", "Role", roles, initial=role),
                input_text("duration", "Duration (30m, 1h)", initial=duration),
                input_text("reason", "Reason (the incident)", initial=reason, multiline=True),
            ],
            submit="Break glass",
        )

    def validate(
        self, user_id: str, workspace: str, role: str, duration: str, reason: str
    ) -> tuple[timedelta, dict[str, str]]:
        """Check a break-glass; returns the duration and field errors (empty when allowed)."""
        parsed = timedelta(0)
        try:
            ws = self.policy.workspace(workspace)
        except PolicyLookupError as exc:
            return parsed, {"workspace": str(exc)}
        glass = ws.break_glass
        if glass is None:
            return parsed, {
                "workspace": f"{workspace} has no break-glass (its policy sets no `break_glass`); "
                f"ask the owners with `/access request {workspace} {role or '<role>'} ...`"
            }
        if user_id not in self.directory.members(glass.allowed):
            return parsed, {"workspace": self._not_allowed(workspace, glass)}
        if role not in glass.roles:
            return parsed, {
                "role": f'"{role}" has no break-glass in {workspace} (break-glass roles there: '
                f"{', '.join(glass.roles)}); for another role use `/access request`"
            }
        errors: dict[str, str] = {}
        try:
            parsed = parse_duration(duration)
        except DurationError as exc:
            errors["duration"] = str(exc)
        else:
            if parsed > glass.max:
                errors["duration"] = (
                    f"{duration} is over the break-glass maximum of {format_duration(glass.max)} "
                    f"in {workspace}; ask for that or less"
                )
        if not reason.strip():
            errors["reason"] = "a reason is required: say which incident, so the owners can review"
        return parsed, errors

    def _not_allowed(self, workspace: str, glass: GlassPolicy) -> str:
        allowed = glass.allowed
        people = " ".join(f"<@{u}>" for u in sorted(self.directory.members(allowed)))
        return (
            f"you may not break the glass in {workspace}: only "
            f"{', '.join(str(p) for p in allowed)}{f' ({people})' if people else ''} may; "
            f"ask the owners with `/access request` instead"
        )

    def grant(self, user_id: str, workspace: str, role: str, duration: str, reason: str) -> Message:
        """Create the APPROVED break-glass grant, its card and the owners' DMs; wake the jobs.

        Raises:
            UserError: not allowed, or an invalid field; the message says what to do.
        """
        parsed, errors = self.validate(user_id, workspace, role, duration, reason)
        if errors:
            raise UserError("; ".join(errors.values()))
        user = signer(self.directory, user_id)
        ws = self.policy.workspace(workspace)
        review_within = ws.break_glass.review_within if ws.break_glass else timedelta(0)
        now = self.clock.now()
        with self.sessions.begin() as s:
            self._refuse_open(s, user_id, workspace, role)
            req = _row(user_id, user.email, (workspace, role, ws.access_backend), parsed, now)
            req.reason = reason.strip()
            req.review_due_at = now + review_within
            req.review_next_at = now + review_within / 2  # the owners' reminder
            self.life.open(
                s, req, "break_glass", user_id, now, workspace=workspace, role=role,
                duration=format_duration(parsed), reason=req.reason,
                review_by=req.review_due_at.isoformat(),
            )  # fmt: skip
            self.life.post_card(s, req, str(ws.approvals_channel), now, user_id)
            self._tell_owners(s, req, ws, now)
        self.ctx.wake.wake()
        return text_message(
            f"{HEADER} `{req.id}`: you have {role} in {workspace} for {format_duration(parsed)}, "
            f"without approval; it is being applied and you will get a DM with the access "
            f"instructions. The owners were told in {ws.approvals_channel} and review it by "
            f"{slack_time(req.review_due_at)}."
        )

    def _refuse_open(self, s: Session, user_id: str, workspace: str, role: str) -> None:
        """One open break-glass per person and role: name the one there is."""
        other = s.scalar(
            select(AccessRequest.id).where(
                AccessRequest.requester_id == user_id,
                AccessRequest.workspace == workspace,
                AccessRequest.role == role,
                AccessRequest.state.in_(OPEN),
                AccessRequest.break_glass.is_(True),
            )
        )
        if other is not None:
            raise UserError(
                f"you already broke the glass for {role} in {workspace}: `{other}` is open; "
                f"`/access list` shows how long it has left"
            )

    def _tell_owners(self, s: Session, req: AccessRequest, ws: Workspace, now: datetime) -> None:
        text = (
            f"{HEADER}: <@{req.requester_id}> granted themselves {req.role} in {req.workspace} "
            f"for {format_duration(timedelta(seconds=req.duration_s))} (`{req.id}`), without "
            f"approval. Reason: {req.reason}. Review it with Reviewed on its card in "
            f"{ws.approvals_channel} by {slack_time(req.review_due_at or now)}."
        )
        for owner in sorted(self.directory.members(ws.owners) - {req.requester_id}):
            self.life.dm(s, owner, f"break-glass:{req.id}", now, text)


def _row(
    user_id: str, email: str, where: tuple[str, str, str], length: timedelta, now: datetime
) -> AccessRequest:
    """A new break-glass row, APPROVED by the one who broke the glass."""
    workspace, role, backend = where
    return AccessRequest(
        id=new_id(ID_PREFIX), requester_id=user_id, subject=email, workspace=workspace,
        role=role, backend=backend, duration_s=int(length.total_seconds()), reason="",
        state=AccessState.APPROVED, created_at=now, updated_at=now, pending_until=now,
        decided_by=user_id, decided_at=now, decision_note="", end_reason="", attempts=0,
        failure="", next_check_at=now, break_glass=True, reviewed_by="",
    )  # fmt: skip
