"""Buttons on cards, confirmations, reminders and the Home tab; every press is checked against
the object its value names, and authorized in the service, never from where it was shown."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.access.buttons import BUTTONS as ACCESS_BUTTONS
from bot.environments.buttons import BUTTONS as ENV_BUTTONS
from bot.services.container import Services
from bot.slack.blocks import ActionId
from bot.slack.presses import ButtonRouter, Press
from handlers.answers import queue_answer
from handlers.errors import explain


def router(services: Services) -> ButtonRouter:
    """Each workflow's declared buttons on its service: the (kind, action) table."""
    return ButtonRouter([ENV_BUTTONS.bind(services.envs), ACCESS_BUTTONS.bind(services.access)])


def register(app: App, services: Services) -> None:
    """Register one listener per button (`handle_<action_id>`)."""
    buttons = router(services)
    for action_id in buttons.actions:
        app.action(action_id.value)(_listener(services, buttons, action_id))


def _listener(
    services: Services, buttons: ButtonRouter, action_id: ActionId
) -> Callable[..., None]:
    def handle(ack: Ack, body: dict[str, Any], logger: logging.Logger) -> None:
        ack()
        try:
            answer = buttons.press(Press.from_body(action_id, body))
        except Exception as exc:  # noqa: BLE001 - answered here: after an ack, Bolt's error
            # path resets the ack it has not yet sent, and the click would look unanswered
            answer = {"text": explain(exc, body, logger)}
        if answer:  # Slack ignores a click's ack body: the answer goes to its response_url
            queue_answer(services, body, answer, "answer")

    handle.__name__ = f"handle_{action_id.value}"
    return handle
