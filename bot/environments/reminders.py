"""What the reminders job says about an environment before it is deleted."""

from __future__ import annotations

from datetime import timedelta

from bot.db.models import Environment
from bot.domain.durations import format_duration
from bot.domain.states import EnvState
from bot.environments.workflow import ENVIRONMENTS
from bot.lifecycle.context import Context
from bot.lifecycle.reminders import Reminders
from bot.slack.blocks import ActionId


def env_reminders(ctx: Context) -> Reminders[Environment]:
    """READY environments, reminded to their owner, with Extend / Delete now / Keep."""

    def step(env: Environment) -> timedelta:
        template = ctx.policy.templates.get(env.template)
        return template.ttl.extend_step if template else timedelta(hours=1)

    def text(env: Environment, left: str, when: str) -> str:
        return (
            f"`{env.name}` will be deleted in {left}, at {when}, with everything in it. "
            f"Extend it by {format_duration(step(env))}, delete it now, or keep it as is."
        )

    return Reminders(
        workflow=ENVIRONMENTS,
        state=EnvState.READY,
        who=lambda env: env.owner_id,
        expiry=lambda env: env.expires_at,
        text=text,
        step=step,
        end=("Delete now", ActionId.DELETE_NOW),
    )
