"""What the reminders job says about an environment before it is deleted."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from bot.db.models import Environment
from bot.domain.durations import format_duration
from bot.domain.states import EnvState
from bot.environments.workflow import ENVIRONMENTS, env_limits
from bot.lifecycle.context import Context
from bot.lifecycle.reminders import Reminders
from bot.policy import Policy
from bot.slack.blocks import ActionId


def extend_step(policy: Policy, env: Environment) -> timedelta:
    """What Extend adds: the template's step."""
    return env_limits(policy, env).step


def _text(policy: Policy, env: Environment, left: str, when: str) -> str:
    step = format_duration(extend_step(policy, env))
    return (
        f"`{env.name}` will be deleted in {left}, at {when}, with everything in it. "
        f"Extend it by {step}, delete it now, or keep it as is."
    )


def env_reminders(ctx: Context) -> Reminders[Environment]:
    """READY environments, reminded to their owner, with Extend / Delete now / Keep."""
    end = ("Delete now", ActionId.DELETE_NOW)
    step = partial(extend_step, ctx.policy)
    return Reminders(ENVIRONMENTS, EnvState.READY, partial(_text, ctx.policy), step, end)
