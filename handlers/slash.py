"""Slash commands through the inbox: what the ack answers itself, what must run in the listener,
and the work a worker runs for the rest.

A parse error needs no network and no write: it is answered in the ack body. A command that
opens a form needs its `trigger_id` within 3 s: it runs in the listener (`views.open` is the
documented exception). Everything else is recorded and handed on (`handlers.intake`).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.domain.commands import Actor, parse_command
from bot.errors import UserError
from bot.services.container import Services
from bot.services.inbox import InboxLost
from bot.slack.blocks import Message
from handlers.errors import explain
from handlers.intake import Work

logger = logging.getLogger(__name__)


def surface_of(body: dict[str, Any]) -> str:
    """`env` or `access`, from the body's `command`."""
    return str(body.get("command") or "").lstrip("/")


def instant_answer(surface: str, text: str) -> Message | bool:
    """The answer to a command that does not parse; otherwise whether it opens a modal:
    `/access request` without everything it needs (`AccessService.request_command` fills the
    form with what was given). One parse: the listener's whole check before the record."""
    try:
        cmd = parse_command(surface, text)
    except UserError as exc:
        return {"text": str(exc)}
    if (surface, cmd.verb) != ("access", "request"):
        return False
    given = len(cmd.args) + (1 if "until" in cmd.options else 0)
    return not cmd.options.get("reason") or given != 3


def actor_of(body: dict[str, Any]) -> Actor:
    """Who typed the command, where, and its trigger_id."""
    return Actor(
        user_id=str(body.get("user_id") or ""),
        channel_id=str(body.get("channel_id") or ""),
        trigger_id=str(body.get("trigger_id") or ""),
    )


def work(services: Services) -> Work:
    """The worker's part: run the command; its answer (or what went wrong) is the reply."""

    def run(body: dict[str, Any]) -> Message | None:
        try:
            return services.commands.run(
                surface_of(body), str(body.get("text") or ""), actor_of(body)
            )
        except InboxLost:
            raise
        except Exception as exc:  # noqa: BLE001 - the user is answered; a bug gets a ref id
            return {"text": explain(exc, body, logger)}

    return run
