"""The buttons every workflow answers the same way (decisions, retry, extend, keep), declared
once for the router; a slice adds only the button that ends its objects now."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from bot.lifecycle.render import kept_answer
from bot.lifecycle.workflow import Workflow
from bot.slack.blocks import ActionId, Message
from bot.slack.presses import Buttons, Target


class ButtonService(Protocol):
    """What a slice's service offers the shared buttons (each method authorizes the user)."""

    def lookup(self, obj_id: str) -> object: ...
    def approve(self, obj_id: str, user_id: str) -> Message: ...
    def deny(self, obj_id: str, user_id: str, note: str) -> Message: ...
    def cancel(self, obj_id: str, user_id: str) -> Message: ...
    def deny_form(self, obj_id: str, user_id: str, trigger_id: str) -> Message: ...
    def retry(self, obj_id: str, user_id: str) -> Message: ...
    def extend_by_step(self, obj_id: str, user_id: str) -> Message: ...


S = TypeVar("S", bound=ButtonService)


def workflow_buttons(
    workflow: Workflow[Any],
    id_prefix: str,
    blocks: frozenset[str],
    end: tuple[ActionId, Callable[[S, Target], Message]],
) -> Buttons[S]:
    """A workflow's buttons: the shared ones plus `end` (Delete now, Revoke now, …).

    Args:
        id_prefix: the letter its ids start with (for buttons posted with a bare id).
        blocks: the block ids its renderers put buttons in (Home tab rows aside).
    """
    end_action, end_now = end
    return Buttons(
        kind=workflow.kind,
        noun=workflow.noun,
        id_prefix=id_prefix,
        blocks=blocks,
        find=lambda svc, oid: svc.lookup(oid),
        presses={
            ActionId.APPROVE: lambda svc, t: svc.approve(t.object_id, t.user_id),
            ActionId.DENY: lambda svc, t: svc.deny_form(t.object_id, t.user_id, t.trigger_id),
            ActionId.CANCEL: lambda svc, t: svc.cancel(t.object_id, t.user_id),
            ActionId.RETRY: lambda svc, t: svc.retry(t.object_id, t.user_id),
            ActionId.EXTEND: lambda svc, t: svc.extend_by_step(t.object_id, t.user_id),
            end_action: end_now,
            ActionId.KEEP: lambda svc, t: kept_answer(),
        },
        deny=lambda svc, oid, user, note: svc.deny(oid, user, note),
    )
