"""Socket Mode with the same checks as the signed-HTTP edge: each envelope's payload goes
through `handlers.gate` (Bolt's parsing, the body's shape, the team and enterprise) before
Bolt dispatches it, and a frame Slack would never send is one log line, never a traceback.

There is no signature here (the app token authenticated the socket) and no status code: a
refused envelope is acknowledged empty, so Slack neither retries it nor shows the user a
timeout for it, exactly as a 400 answered over HTTP ends the request. Bolt's own
`SocketModeHandler` dispatches every payload unchecked and lets slack_sdk log a traceback for
a payload it cannot read.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import build_headers, send_response
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web import WebClient

from handlers.gate import EdgeRules, Refused, admit, bolt_request, label

logger = logging.getLogger(__name__)


class CheckedSocketModeClient(SocketModeClient):
    """slack_sdk's built-in client, minus the tracebacks for frames that are not envelopes."""

    def process_message(self) -> None:
        try:
            super().process_message()  # type: ignore[no-untyped-call]
        except ValueError:  # json.JSONDecodeError: a frame that starts with "{" but is not JSON
            logger.warning("refused a Socket Mode frame: it is not JSON")

    def run_message_listeners(self, message: dict[str, Any], raw_message: str) -> None:
        payload = message.get("payload")
        if "payload" in message and not isinstance(payload, dict):
            # SocketModeRequest.from_dict raises on any other payload (a list, a number).
            logger.warning("refused a Socket Mode envelope: its payload is not an object")
            _ack(self, message.get("envelope_id"))
            return
        super().run_message_listeners(message, raw_message)


class CheckedSocketModeHandler(SocketModeHandler):
    """Bolt's Socket Mode adapter with `handlers.gate` in front of `App.dispatch`."""

    def __init__(
        self,
        app: App,
        app_token: str,
        rules: EdgeRules,
        *,
        web_client: WebClient | None = None,
        ping_interval: float = 10,
    ) -> None:
        # Not super().__init__: it starts a client of its own (threads included) at once.
        self.app = app
        self.app_token = app_token
        self.rules = rules
        self.client = CheckedSocketModeClient(
            app_token=app_token,
            logger=app.logger,
            web_client=web_client if web_client is not None else app.client,
            ping_interval=ping_interval,
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        """Check the envelope's payload as the HTTP edge checks a body, then dispatch it."""
        start = time.time()
        try:
            request = bolt_request(req.payload, mode="socket_mode", headers=build_headers(req))
            admit(request, self.rules)
            label(request)
        except Refused as refused:
            logger.warning(
                "refused a Slack request over Socket Mode: %s",
                refused.reason,
                extra={"http_status": refused.status, "slack_retry_num": req.retry_attempt},
            )
            _ack(client, req.envelope_id)
            return
        send_response(client, req, self.app.dispatch(request), start)


def _ack(client: SocketModeClient, envelope_id: Any) -> None:
    """Acknowledge an envelope with nothing (Slack's `{"envelope_id": …}`) so it is not retried."""
    if isinstance(envelope_id, str) and envelope_id:
        client.send_message(json.dumps(SocketModeResponse(envelope_id=envelope_id).to_dict()))
