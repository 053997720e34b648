"""What the reminders job says about a grant before it expires."""

from __future__ import annotations

from datetime import timedelta

from bot.access.workflow import ACCESS
from bot.db.models import AccessRequest
from bot.domain.durations import format_duration
from bot.domain.states import AccessState
from bot.lifecycle.context import Context
from bot.lifecycle.reminders import Reminders
from bot.slack.blocks import ActionId


def access_reminders(ctx: Context) -> Reminders[AccessRequest]:
    """ACTIVE grants, reminded to the requester, with Extend / Revoke now / Keep."""

    def step(req: AccessRequest) -> timedelta:
        ws = ctx.policy.workspaces.get(req.workspace)
        role = ws.roles.get(req.role) if ws else None
        return role.extend_step if role else timedelta(hours=1)

    def text(req: AccessRequest, left: str, when: str) -> str:
        return (
            f"Your {req.role} access to {req.workspace} (`{req.id}`) ends in {left}, at "
            f"{when}. Extend it by {format_duration(step(req))}, revoke it now, or keep it as is."
        )

    return Reminders(
        workflow=ACCESS,
        state=AccessState.ACTIVE,
        who=lambda req: req.requester_id,
        expiry=lambda req: req.expires_at,
        text=text,
        step=step,
        end=("Revoke now", ActionId.REVOKE_NOW),
    )
