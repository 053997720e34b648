"""Modal submissions: the access request form and the deny reason; field errors stay in the form."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.errors import UserError
from bot.services.container import Services
from bot.slack.blocks import CallbackId
from handlers.actions import router


def _values(view: dict[str, Any]) -> dict[str, str]:
    """Field name (the block_id) -> submitted value, for text inputs and static selects."""
    out: dict[str, str] = {}
    for block_id, actions in view.get("state", {}).get("values", {}).items():
        for element in actions.values():
            selected = element.get("selected_option") or {}
            out[block_id] = str(selected.get("value") or element.get("value") or "")
    return out


def register(app: App, services: Services) -> None:
    """Register the modal submit handlers."""
    buttons = router(services)

    @app.view(CallbackId.ACCESS_REQUEST.value)
    def handle_access_request(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        fields = _values(view)
        args = (
            fields.get("workspace", ""),
            fields.get("role", ""),
            fields.get("duration", ""),
            fields.get("reason", ""),
        )
        _, errors = services.access.validate(*args)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        user = body["user"]["id"]
        try:
            message = services.access.submit(user, *args)
        except UserError as exc:
            message = {"text": str(exc)}
        services.notify_user(user, message)

    @app.view(CallbackId.DENY_REASON.value)
    def handle_deny_reason(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ack()
        user = body["user"]["id"]
        reference = str(view.get("private_metadata", ""))
        note = _values(view).get("reason", "").strip()
        try:
            message = buttons.deny(reference, user, note)
        except UserError as exc:
            message = {"text": str(exc)}
        services.notify_user(user, message)
