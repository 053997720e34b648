"""`/env` and `/access`: ack at once, then parse and answer through one service call."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.domain.commands import Actor
from bot.services.container import Services


def register(app: App, services: Services) -> None:
    """Register both slash commands."""

    def answer(surface: str, ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()
        actor = Actor(
            user_id=str(command.get("user_id") or ""),
            channel_id=command.get("channel_id", ""),
            trigger_id=command.get("trigger_id", ""),
        )
        reply = services.commands.run(surface, command.get("text", ""), actor)
        if reply:
            respond(response_type="ephemeral", **reply)

    @app.command("/env")
    def handle_env(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        answer("env", ack, command, respond)

    @app.command("/access")
    def handle_access(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        answer("access", ack, command, respond)
