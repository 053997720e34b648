"""`/env` and `/access`: a parse error is answered in the ack; a command that opens a form runs
here (`answers.SlashAnswer`); every other one is recorded and handed on (`handlers.slash`).

Over HTTP with the ack journal on, that last, common case is acked by the edge (`lane`) without
Bolt's dispatch: Bolt's listener matching and argument injection were most of an ack's CPU, and
under a burst every ack waits for the GIL behind the others' (docs/PERFORMANCE.md, P1). The
lane runs the same check and the same `Intake.take`; anything else goes to the listeners."""

from __future__ import annotations

import logging
import time
from typing import Any

from slack_bolt import Ack, App, BoltContext, BoltResponse
from slack_bolt.request import BoltRequest

from bot.services.container import Services
from handlers import slash
from handlers.answers import SlashAnswer
from handlers.edge import Lane
from handlers.errors import ack_body, explain
from handlers.intake import Intake, delivery_key

logger = logging.getLogger(__name__)


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


def lane(intake: Intake) -> Lane:
    """The edge's lane for a slash command that is recorded and handed on: what the listener
    does for it (`answer`), acked without Bolt's dispatch. None (Bolt's listener) for the rest:
    another request, a parse error or a form to open, or the journal off."""

    def recorded(request: BoltRequest) -> BoltResponse | None:
        body = request.body
        if body.get("command") not in ("/env", "/access") or intake.journal is None:
            return None  # Bolt matches the command exactly, as this does
        try:
            checked = slash.instant_answer(slash.surface_of(body), str(body.get("text") or ""))
        except Exception:  # noqa: BLE001 - the listener meets it again, and the error handler answers
            return None
        if checked is not False:
            return None
        try:  # refusing while the database is down raises here, as in the listener
            intake.take("command", delivery_key(request.context, "command"), body)
        except Exception as error:  # noqa: BLE001 - answered as Bolt's error handler answers it
            return ack_body(explain(error, body, logger))
        return BoltResponse(status=200, body="")

    return recorded
