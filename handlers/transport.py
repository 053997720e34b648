"""How Slack's requests reach the listeners: Bolt's WSGI adapter (signed HTTP, which `bot.server`
mounts at /slack/events) or a Socket Mode connection."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def slack_wsgi(app: App) -> WsgiApp:
    """The WSGI app that checks Slack's signature and dispatches to the Bolt app."""
    return SlackRequestHandler(app)


def run_socket_mode(app: App, app_token: str) -> None:
    """Receive Slack's requests over a Socket Mode connection; blocks until the process ends."""
    SocketModeHandler(app, app_token).start()  # type: ignore[no-untyped-call]
