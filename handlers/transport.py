"""How Slack's requests reach the listeners: the checked signed-HTTP edge (which `bot.server`
mounts at /slack/events) or a Socket Mode connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_sdk.web import WebClient

from handlers.edge import EdgeRules, Lane, StartResponse, WsgiApp, slack_edge
from handlers.socket_mode import CheckedSocketModeHandler

if TYPE_CHECKING:
    from handlers.intake import Intake

__all__ = [
    "SlackApp",
    "StartResponse",
    "WsgiApp",
    "connect_socket_mode",
    "run_socket_mode",
    "slack_wsgi",
]


class SlackApp(App):
    """The Bolt app envbot serves, with the rules its HTTP edge enforces before dispatching."""

    def __init__(self, *, edge: EdgeRules, **kwargs: Any) -> None:
        super().__init__(signing_secret=edge.signing_secret, **kwargs)
        self.edge = edge

    intake: Intake  # where listeners record requests and hand them on (set by build_app)
    lane: Lane | None = None  # what the HTTP edge answers without Bolt's dispatch (build_app)


def slack_wsgi(app: SlackApp) -> WsgiApp:
    """The WSGI app that checks size, signature, shape and workspace, then dispatches to `app`."""
    return slack_edge(app, app.edge, lane=app.lane)


def run_socket_mode(app: SlackApp, app_token: str) -> None:
    """Receive Slack's requests over a Socket Mode connection, checked as the HTTP edge checks
    them (`handlers.gate`); blocks until the process ends."""
    CheckedSocketModeHandler(app, app_token, app.edge).start()  # type: ignore[no-untyped-call]


def connect_socket_mode(
    app: SlackApp, app_token: str, web_client: WebClient | None = None
) -> Callable[[], None]:
    """Open a checked Socket Mode connection in the background; returns the function that
    closes it. `web_client` opens the connection (`apps.connections.open`; default the app's)."""
    handler = CheckedSocketModeHandler(app, app_token, app.edge, web_client=web_client)
    handler.connect()  # type: ignore[no-untyped-call]
    return handler.close
