"""How environments show on the App Home tab."""

from __future__ import annotations

from bot.domain.states import EnvState
from bot.environments import render
from bot.environments.workflow import ENVIRONMENTS
from bot.lifecycle.home import HomeList
from bot.slack.blocks import ActionId

LISTED = frozenset(
    {
        EnvState.PENDING_APPROVAL,
        EnvState.PROVISIONING,
        EnvState.READY,
        EnvState.FAILED,
        EnvState.DELETING,
    }
)
ENV_HOME = HomeList(
    ENVIRONMENTS, "My environments", "None. Create one with `/env create <template>`.", LISTED,
    "expires_at", EnvState.READY, ("Delete now", ActionId.DELETE_NOW), render.env_line,
    render.env_line,
)  # fmt: skip
