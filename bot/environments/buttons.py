"""The buttons an environment answers, and the blocks its renderers put them in."""

from __future__ import annotations

from bot.environments import ID_PREFIX
from bot.environments.render import CONFIRM_BLOCK, ENV_ACTIONS_BLOCK
from bot.environments.service import EnvironmentService
from bot.environments.workflow import ENVIRONMENTS
from bot.lifecycle.buttons import workflow_buttons
from bot.lifecycle.render import REMINDER_BLOCK
from bot.slack.blocks import ActionId, Message
from bot.slack.presses import Target


def _delete_now(svc: EnvironmentService, t: Target) -> Message:
    return svc.delete_now(t.object_id, t.user_id)


BUTTONS = workflow_buttons(
    ENVIRONMENTS,
    ID_PREFIX,
    frozenset({ENV_ACTIONS_BLOCK, CONFIRM_BLOCK, REMINDER_BLOCK}),
    (ActionId.DELETE_NOW, _delete_now),
)
