"""`/env` and `/access`: a parse error is answered in the ack; a command that opens a form runs
here (`answers.SlashAnswer`); every other one is recorded and handed on (`handlers.slash`)."""

from __future__ import annotations

import time
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.services.container import Services
from handlers import slash
from handlers.answers import SlashAnswer
from handlers.intake import Intake, delivery_key


def register(app: App, services: Services, intake: Intake) -> None:
    """Register both slash commands."""
    intake.register("command", slash.work(services))

    def answer(surface: str, ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        text = str(command.get("text") or "")
        checked = slash.instant_answer(surface, text)
        if not isinstance(checked, bool):  # it does not parse: the answer is the ack's body
            ack(response_type="ephemeral", **checked)
            return
        key = delivery_key(context, "command")
        if not checked:  # no form to open: record it and hand it on
            reply = intake.take("command", key, command)
            ack(response_type="ephemeral", **reply) if reply else ack()
            return
        if not intake.first_time(key):
            ack()  # a replay: the form was opened for the first delivery
            return
        # Bolt waits 3 s from the request, not from this listener: a wait in its pool counts.
        waited = time.monotonic() - float(context.get("received_at", time.monotonic()))
        with SlashAnswer(ack, services, command, waited) as answering:
            answering.reply(services.commands.run(surface, text, slash.actor_of(command)))

    @app.command("/env")
    def handle_env(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        answer("env", ack, command, context)

    @app.command("/access")
    def handle_access(ack: Ack, command: dict[str, Any], context: BoltContext) -> None:
        answer("access", ack, command, context)
