"""The buttons an access request answers, and the blocks its renderers put them in."""

from __future__ import annotations

from dataclasses import replace

from bot.access import ID_PREFIX
from bot.access.glass_card import REVIEW_BLOCK
from bot.access.render import REQUEST_ACTIONS_BLOCK
from bot.access.service import AccessService
from bot.access.workflow import ACCESS
from bot.lifecycle.buttons import workflow_buttons
from bot.lifecycle.render import REMINDER_BLOCK
from bot.slack.blocks import ActionId, Message
from bot.slack.presses import Target


def _revoke_now(svc: AccessService, t: Target) -> Message:
    return svc.revoke(t.object_id, t.user_id)


def _reviewed(svc: AccessService, t: Target) -> Message:
    return svc.reviews.review(t.object_id, t.user_id)


_SHARED = workflow_buttons(
    ACCESS,
    ID_PREFIX,
    frozenset({REQUEST_ACTIONS_BLOCK, REMINDER_BLOCK}),
    (ActionId.REVOKE_NOW, _revoke_now),
)
# A break-glass card's Reviewed button, besides the buttons every workflow has.
BUTTONS = replace(
    _SHARED,
    blocks=_SHARED.blocks | {REVIEW_BLOCK},
    presses={**_SHARED.presses, ActionId.REVIEWED: _reviewed},
)
