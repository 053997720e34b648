"""Buttons on cards, confirmations, reminders and the Home tab; every press is checked against
the object its value names, and authorized in the service, never from where it was shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.access.buttons import BUTTONS as ACCESS_BUTTONS
from bot.environments.buttons import BUTTONS as ENV_BUTTONS
from bot.services.container import Services
from bot.slack.blocks import ActionId
from bot.slack.presses import ButtonRouter, Press


def router(services: Services) -> ButtonRouter:
    """Each workflow's declared buttons on its service: the (kind, action) table."""
    return ButtonRouter([ENV_BUTTONS.bind(services.envs), ACCESS_BUTTONS.bind(services.access)])


def register(app: App, services: Services) -> None:
    """Register one listener per button (`handle_<action_id>`)."""
    buttons = router(services)
    for action_id in buttons.actions:
        app.action(action_id.value)(_listener(buttons, action_id))


def _listener(buttons: ButtonRouter, action_id: ActionId) -> Callable[..., None]:
    def handle(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        answer = buttons.press(Press.from_body(action_id, body))
        if answer:
            respond(**{"response_type": "ephemeral", "replace_original": False, **answer})

    handle.__name__ = f"handle_{action_id.value}"
    return handle
