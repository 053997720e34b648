"""Buttons on cards, confirmations and reminders; every press is authorized in the service."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.blocks import ActionId, Message
from bot.errors import NotFound
from bot.services.container import Services


def _press(body: dict[str, Any]) -> tuple[str, str]:
    """The pressing user and the button's value (an object id the service re-checks)."""
    action = body["actions"][0]
    return body["user"]["id"], str(action.get("value", ""))


def _kind(object_id: str) -> str:
    """Environment ids start with "e", access request ids with "r" (see `new_id`)."""
    if object_id[:1] in ("e", "r"):
        return object_id[:1]
    raise NotFound(f'this button names no known request ("{object_id}")')


def register(app: App, services: Services) -> None:
    """Register every button."""

    def reply(respond: Respond, message: Message) -> None:
        if message:
            respond(response_type="ephemeral", replace_original=False, **message)

    @app.action(ActionId.APPROVE.value)
    def handle_approve(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user, oid = _press(body)
        svc = services.envs if _kind(oid) == "e" else services.access
        reply(respond, svc.approve(oid, user))

    @app.action(ActionId.DENY.value)
    def handle_deny(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user, oid = _press(body)
        if _kind(oid) == "e":
            services.envs.check_decidable(oid, user)
            services.views.open_view(body["trigger_id"], services.deny_modal(oid))
            return
        reply(respond, services.access.deny_form(oid, user, body["trigger_id"]))

    @app.action(ActionId.CANCEL.value)
    def handle_cancel(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user, oid = _press(body)
        svc = services.envs if _kind(oid) == "e" else services.access
        reply(respond, svc.cancel(oid, user))

    @app.action(ActionId.RETRY.value)
    def handle_retry(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user, oid = _press(body)
        svc = services.envs if _kind(oid) == "e" else services.access
        reply(respond, svc.retry(oid, user))

    @app.action(ActionId.DELETE_NOW.value)
    def handle_delete_now(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user, oid = _press(body)
        reply(respond, services.envs.delete_now(oid, user))

    @app.action(ActionId.EXTEND.value)
    def handle_extend(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user, oid = _press(body)
        svc = services.envs if _kind(oid) == "e" else services.access
        reply(respond, svc.extend_by_step(oid, user))

    @app.action(ActionId.KEEP.value)
    def handle_keep(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        _, oid = _press(body)
        _kind(oid)
        respond(replace_original=True, text="Kept as is; it ends at the time above, as planned.")

    @app.action(ActionId.REVOKE_NOW.value)
    def handle_revoke_now(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user, oid = _press(body)
        reply(respond, services.access.revoke(oid, user))
