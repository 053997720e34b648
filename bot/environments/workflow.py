"""The environments workflow as the kernel sees it: its machine, card and words."""

from __future__ import annotations

from datetime import timedelta

from bot.db.models import Environment
from bot.domain.durations import format_duration
from bot.domain.states import ENV_MACHINE, EnvEvent, EnvState
from bot.environments import KIND, render
from bot.lifecycle.extension import Limits
from bot.lifecycle.workflow import Workflow
from bot.policy import Policy
from bot.policy.approvals import Approvals


def _on_move(env: Environment, before: str, event: str) -> None:
    if env.state == EnvState.DELETING:
        env.delete_requested = False
        env.deleting_since = env.updated_at  # the kernel stamps the move's time first
    if event == EnvEvent.FAIL:
        # What failed decides what the card offers: a failed delete is retried by deleting.
        env.failed_while = before.lower()


def _approvals(policy: Policy, env: Environment) -> Approvals:
    """Its template's approval settings (its workspace's, when the template is gone)."""
    template = policy.templates.get(env.template)
    if template is not None and template.workspace in policy.workspaces:
        return policy.template_approvals(env.template)
    ws = policy.workspaces.get(env.workspace)
    return ws.approvals if ws is not None else Approvals()


ENVIRONMENTS = Workflow(
    KIND, Environment, ENV_MACHINE, render.env_card, render.env_state_word, "environment",
    "/env list", "provisioning starts now", on_move=_on_move, approvals=_approvals,
)  # fmt: skip


def env_limits(policy: Policy, env: Environment) -> Limits:
    """The template's extension step and lifetime cap, counted from creation. A template no
    longer in the policy allows no extension (its cap is the current expiry)."""
    template = policy.templates.get(env.template)
    if template is None:
        rule = f"{env.name} comes from template {env.template}, which no longer exists; it"
        return Limits(timedelta(hours=1), env.expires_at, rule + " cannot be extended")
    most = format_duration(template.ttl.max)
    rule = f"{env.name} can live at most {most} from creation"
    return Limits(template.ttl.extend_step, env.created_at + template.ttl.max, rule)


EXTENDABLE = (
    frozenset({EnvState.READY, EnvState.PROVISIONING}),
    "a provisioning or ready environment",
)
