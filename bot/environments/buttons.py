"""The buttons an environment answers, and the blocks its renderers put them in."""

from __future__ import annotations

from bot.environments import ID_PREFIX, KIND
from bot.environments.render import CONFIRM_BLOCK, ENV_ACTIONS_BLOCK
from bot.environments.service import EnvironmentService
from bot.lifecycle.render import REMINDER_BLOCK, kept_answer
from bot.slack.blocks import ActionId
from bot.slack.presses import Buttons

BUTTONS = Buttons[EnvironmentService](
    kind=KIND,
    noun="environment",
    id_prefix=ID_PREFIX,
    blocks=frozenset({ENV_ACTIONS_BLOCK, CONFIRM_BLOCK, REMINDER_BLOCK}),
    find=lambda svc, oid: svc.lookup(oid),
    presses={
        ActionId.APPROVE: lambda svc, t: svc.approve(t.object_id, t.user_id),
        ActionId.DENY: lambda svc, t: svc.deny_form(t.object_id, t.user_id, t.trigger_id),
        ActionId.CANCEL: lambda svc, t: svc.cancel(t.object_id, t.user_id),
        ActionId.RETRY: lambda svc, t: svc.retry(t.object_id, t.user_id),
        ActionId.EXTEND: lambda svc, t: svc.extend_by_step(t.object_id, t.user_id),
        ActionId.DELETE_NOW: lambda svc, t: svc.delete_now(t.object_id, t.user_id),
        ActionId.KEEP: lambda svc, t: kept_answer(),
    },
    deny=lambda svc, oid, user, note: svc.deny(oid, user, note),
)
