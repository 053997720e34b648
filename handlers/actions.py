"""Buttons on cards, confirmations, reminders and the Home tab; every press is authorized in
the service, from the object the button names, never from where the button was shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.errors import NotFound
from bot.services.container import Services
from bot.slack.blocks import ActionId, Message

# (services, object id, user, body) -> the answer shown to the presser
Press = Callable[[Services, str, str, dict[str, Any]], Message]


def _kind(object_id: str) -> str:
    """Environment ids start with "e", access request ids with "r" (see `new_id`)."""
    if object_id[:1] in ("e", "r"):
        return object_id[:1]
    raise NotFound(f'this button names no known request ("{object_id}")')


def _deny(services: Services, oid: str, user: str, body: dict[str, Any]) -> Message:
    """Deny opens a form for an optional reason; the decision comes with its submission."""
    if _kind(oid) == "e":
        services.envs.check_decidable(oid, user)
        services.views.open_view(body["trigger_id"], services.deny_modal(oid))
        return {}
    return services.access.deny_form(oid, user, body["trigger_id"])


def _keep(services: Services, oid: str, user: str, body: dict[str, Any]) -> Message:
    _kind(oid)
    return {"text": "Kept as is; it ends at the time above, as planned.", "replace_original": True}


def _either(
    env: Callable[[Services], Callable[[str, str], Message]],
    access: Callable[[Services], Callable[[str, str], Message]],
) -> Press:
    """Route by the id's kind to the environment or the access service."""

    def press(services: Services, oid: str, user: str, body: dict[str, Any]) -> Message:
        method = env(services) if _kind(oid) == "e" else access(services)
        return method(oid, user)

    return press


PRESSES: dict[ActionId, Press] = {
    ActionId.APPROVE: _either(lambda s: s.envs.approve, lambda s: s.access.approve),
    ActionId.CANCEL: _either(lambda s: s.envs.cancel, lambda s: s.access.cancel),
    ActionId.RETRY: _either(lambda s: s.envs.retry, lambda s: s.access.retry),
    ActionId.EXTEND: _either(lambda s: s.envs.extend_by_step, lambda s: s.access.extend_by_step),
    ActionId.DELETE_NOW: lambda s, oid, user, body: s.envs.delete_now(oid, user),
    ActionId.REVOKE_NOW: lambda s, oid, user, body: s.access.revoke(oid, user),
    ActionId.DENY: _deny,
    ActionId.KEEP: _keep,
}


def register(app: App, services: Services) -> None:
    """Register one listener per button (`handle_<action_id>`)."""
    for action_id, press in PRESSES.items():
        app.action(action_id.value)(_listener(services, press, action_id))


def _listener(services: Services, press: Press, action_id: ActionId) -> Callable[..., None]:
    def handle(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user = body["user"]["id"]
        oid = str(body["actions"][0].get("value", ""))
        answer = press(services, oid, user, body)
        if answer:
            respond(**{"response_type": "ephemeral", "replace_original": False, **answer})

    handle.__name__ = f"handle_{action_id.value}"
    return handle
