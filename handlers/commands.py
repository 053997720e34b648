"""`/env` and `/access`: parse and answer through one service call, in the ack body when the
answer is ready in time, else through the outbox (`answers.SlashAnswer`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.domain.commands import Actor
from bot.services.container import Services
from handlers.answers import SlashAnswer


def register(app: App, services: Services) -> None:
    """Register both slash commands (and stamp each request's arrival for their ack budget)."""

    @app.middleware
    def stamp_arrival(context: BoltContext, next: Callable[[], None]) -> None:
        context["received_at"] = time.monotonic()
        next()

    def answer(surface: str, ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        actor = Actor(
            user_id=str(command.get("user_id") or ""),
            channel_id=command.get("channel_id", ""),
            trigger_id=command.get("trigger_id", ""),
        )
        # Bolt waits 3 s from the request, not from this listener: a wait in its pool counts.
        waited = time.monotonic() - float(context.get("received_at", time.monotonic()))
        with SlashAnswer(ack, services, command, waited) as answering:
            answering.reply(services.commands.run(surface, command.get("text", ""), actor))

    @app.command("/env")
    def handle_env(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        answer("env", ack, command, context)

    @app.command("/access")
    def handle_access(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        answer("access", ack, command, context)
