"""What the reminders job says about a grant before it expires."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from bot.access.workflow import ACCESS, grant_limits
from bot.db.models import AccessRequest
from bot.domain.durations import format_duration
from bot.domain.states import AccessState
from bot.lifecycle.context import Context
from bot.lifecycle.reminders import Reminders
from bot.policy import Policy
from bot.slack.blocks import ActionId


def grant_step(policy: Policy, req: AccessRequest) -> timedelta:
    """What Extend adds: the role's step."""
    return grant_limits(policy, req).step


def access_reminders(ctx: Context) -> Reminders[AccessRequest]:
    """ACTIVE grants, reminded to the requester, with Extend / Revoke now / Keep."""

    def text(req: AccessRequest, left: str, when: str) -> str:
        step = format_duration(grant_step(ctx.policy, req))
        return (
            f"Your {req.role} access to {req.workspace} (`{req.id}`) ends in {left}, at "
            f"{when}. Extend it by {step}, revoke it now, or keep it as is."
        )

    revoke = ("Revoke now", ActionId.REVOKE_NOW)
    return Reminders(ACCESS, AccessState.ACTIVE, text, partial(grant_step, ctx.policy), revoke)
