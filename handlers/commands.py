"""`/env` and `/access`: parse and answer through one service call, in the ack body when the
answer is ready in time, else through the outbox (`answers.SlashAnswer`)."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.domain.commands import Actor
from bot.services.container import Services
from handlers.answers import SlashAnswer


def register(app: App, services: Services) -> None:
    """Register both slash commands."""

    def answer(surface: str, ack: Ack, command: dict[str, Any]) -> None:
        actor = Actor(
            user_id=str(command.get("user_id") or ""),
            channel_id=command.get("channel_id", ""),
            trigger_id=command.get("trigger_id", ""),
        )
        with SlashAnswer(ack, services, command) as answering:
            answering.reply(services.commands.run(surface, command.get("text", ""), actor))

    @app.command("/env")
    def handle_env(ack: Ack, command: dict[str, Any]) -> None:
        answer("env", ack, command)

    @app.command("/access")
    def handle_access(ack: Ack, command: dict[str, Any]) -> None:
        answer("access", ack, command)
