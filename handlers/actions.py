"""Buttons: Retry and Delete now on environment cards and confirmations; authorized in services."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.blocks import ActionId
from bot.services.container import Services


def _value(body: dict[str, Any]) -> tuple[str, str]:
    """The pressing user and the button's value (an object id, checked by the service)."""
    action = body["actions"][0]
    return body["user"]["id"], str(action.get("value", ""))


def register(app: App, services: Services) -> None:
    """Register the environment buttons."""

    @app.action(ActionId.DELETE_NOW.value)
    def handle_delete_now(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user_id, env_id = _value(body)
        reply = services.envs.delete_now(env_id, user_id)
        respond(response_type="ephemeral", replace_original=False, **reply)

    @app.action(ActionId.RETRY.value)
    def handle_retry(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        user_id, env_id = _value(body)
        reply = services.envs.retry(env_id, user_id)
        respond(response_type="ephemeral", replace_original=False, **reply)
