"""The buttons an access request answers, and the blocks its renderers put them in."""

from __future__ import annotations

from bot.access import ID_PREFIX, KIND
from bot.access.render import REQUEST_ACTIONS_BLOCK
from bot.access.service import AccessService
from bot.lifecycle.render import REMINDER_BLOCK, kept_answer
from bot.slack.blocks import ActionId
from bot.slack.presses import Buttons

BUTTONS = Buttons[AccessService](
    kind=KIND,
    noun="access request",
    id_prefix=ID_PREFIX,
    blocks=frozenset({REQUEST_ACTIONS_BLOCK, REMINDER_BLOCK}),
    find=lambda svc, oid: svc.lookup(oid),
    presses={
        ActionId.APPROVE: lambda svc, t: svc.approve(t.object_id, t.user_id),
        ActionId.DENY: lambda svc, t: svc.deny_form(t.object_id, t.user_id, t.trigger_id),
        ActionId.CANCEL: lambda svc, t: svc.cancel(t.object_id, t.user_id),
        ActionId.RETRY: lambda svc, t: svc.retry(t.object_id, t.user_id),
        ActionId.EXTEND: lambda svc, t: svc.extend_by_step(t.object_id, t.user_id),
        ActionId.REVOKE_NOW: lambda svc, t: svc.revoke(t.object_id, t.user_id),
        ActionId.KEEP: lambda svc, t: kept_answer(),
    },
    deny=lambda svc, oid, user, note: svc.deny(oid, user, note),
)
