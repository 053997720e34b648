"""Routes a parsed slash command to the one service that handles it."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bot.domain.commands import Actor, Command, parse_command
from bot.services.help import HelpService
from bot.slack.blocks import Message, text_message

Route = Callable[[Command, Actor], Message]


class CommandService:
    """Parses `/env` and `/access` text and calls the route for its verb."""

    def __init__(self, help_service: HelpService, routes: Mapping[tuple[str, str], Route]) -> None:
        self._help = help_service
        self._routes = dict(routes)

    def run(self, surface: str, text: str, actor: Actor) -> Message:
        """Answer one slash command.

        Raises:
            UserError: bad input; the message says what to do.
        """
        cmd = parse_command(surface, text)
        if cmd.verb == "help":
            return self._help.help(surface, actor.user_id)
        if (surface, cmd.verb) == ("env", "templates"):
            return self._help.templates(actor.user_id)
        route = self._routes.get((surface, cmd.verb))
        if route is None:
            return text_message(
                f"`/{surface} {cmd.verb}` is not available yet in this version of envbot. "
                f"`/{surface} help` lists what works today."
            )
        return route(cmd, actor)
