"""Buttons on cards, confirmations, reminders and the Home tab; every press is checked against
the object its value names, and authorized in the service, never from where it was shown.

Buttons on a one-shot message (a reminder DM, `/env delete`'s confirmation) act once: the first
press claims the message and replaces it in place (same words, no buttons, a line saying what
happened, by whom and when); any later press is told who already acted, and changes nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.access.buttons import BUTTONS as ACCESS_BUTTONS
from bot.environments.buttons import BUTTONS as ENV_BUTTONS
from bot.environments.render import CONFIRM_BLOCK
from bot.lifecycle.render import REMINDER_BLOCK
from bot.services.container import Services
from bot.services.inbox import InboxLost, current_key
from bot.services.once import OnceOnly, message_key
from bot.slack.acted import acted_message, already_done
from bot.slack.blocks import ActionId
from bot.slack.presses import ButtonRouter, Press
from handlers.answers import queue_answer
from handlers.errors import explain
from handlers.intake import Intake, delivery_key

# Buttons that open a form: they run in the listener, while the trigger_id is fresh.
OPENS_FORM = frozenset({ActionId.DENY})
_LOG = logging.getLogger(__name__)
ONE_SHOT_BLOCKS = frozenset({REMINDER_BLOCK, CONFIRM_BLOCK})
_CHANNEL = re.compile(r"[A-Z0-9]{1,24}")
_TS = re.compile(r"\d{1,12}\.\d{1,9}")


def router(services: Services) -> ButtonRouter:
    """Each workflow's declared buttons on its service: the (kind, action) table."""
    return ButtonRouter([ENV_BUTTONS.bind(services.envs), ACCESS_BUTTONS.bind(services.access)])


def register(app: App, services: Services, intake: Intake) -> None:
    """Register one listener per button (`handle_<action_id>`). A press is recorded and handed
    on, except Deny, which opens its form here (the trigger_id lives 3 s)."""
    buttons = router(services)
    once = OnceOnly(services.sessions, services.clock)
    press = _press(services, buttons, once)
    intake.register("action", lambda body: press(body, _action_id(body)))
    for action_id in buttons.actions:
        app.action(action_id.value)(_listener(intake, press, action_id))


Work = Callable[[dict[str, Any], ActionId], None]


def _listener(intake: Intake, press: Work, action_id: ActionId) -> Callable[..., None]:
    def handle(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        key = delivery_key(context, "action")
        if action_id not in OPENS_FORM:
            intake.take("action", key, body)
        elif intake.first_time(key):
            press(body, action_id)

    handle.__name__ = f"handle_{action_id.value}"
    return handle


def _action_id(body: Mapping[str, Any]) -> ActionId:
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else {}
    return ActionId(str(first.get("action_id") if isinstance(first, dict) else ""))


def _press(services: Services, buttons: ButtonRouter, once: OnceOnly) -> Work:
    def press_button(body: dict[str, Any], action_id: ActionId) -> None:
        # Slack ignores a click's ack body: every answer goes to its response_url (outbox)
        key: str | None = None
        try:
            press = Press.from_body(action_id, body)
            key = _one_shot_key(press, body)
            if key is not None:
                earlier = once.claim(key, action_id.value, press.user_id, current_key())
                if earlier is not None:
                    done = already_done(earlier.action, earlier.user_id, earlier.at)
                    queue_answer(services, body, done, "answer")
                    return
            answer = buttons.press(press)
        except InboxLost:
            raise
        except Exception as exc:  # noqa: BLE001 - answered here: after an ack, Bolt's error
            # path resets the ack it has not yet sent, and the click would look unanswered
            if key is not None:
                once.release(key)  # refused or failed: nothing changed, the buttons stay usable
            queue_answer(services, body, {"text": explain(exc, body, _LOG)}, "answer")
            return
        if key is not None:
            shown = acted_message(_shown_blocks(body), answer, press.user_id, once.clock.now())
            queue_answer(services, body, shown, "answer")
        elif answer:
            queue_answer(services, body, answer, "answer")

    return press_button


def _one_shot_key(press: Press, body: Mapping[str, Any]) -> str | None:
    """The claim key when the press is on a one-shot message that holds this button's block
    (an ephemeral one, whose blocks Slack does not send, is taken at its word)."""
    if press.block_id not in ONE_SHOT_BLOCKS:
        return None
    container = body.get("container")
    if not isinstance(container, dict):
        return None
    channel = str(container.get("channel_id") or "")
    ts = str(container.get("message_ts") or "")
    if not _CHANNEL.fullmatch(channel) or not _TS.fullmatch(ts):
        return None
    shown = _shown_blocks(body)
    if shown is not None and not any(
        b.get("type") == "actions" and b.get("block_id") == press.block_id for b in shown
    ):
        return None
    return message_key(channel, ts)


def _shown_blocks(body: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The pressed message's blocks as Slack sent them; None for an ephemeral message."""
    message = body.get("message")
    if not isinstance(message, dict):
        return None
    blocks = message.get("blocks")
    if not isinstance(blocks, list):
        return None
    return [b for b in blocks if isinstance(b, dict)]
