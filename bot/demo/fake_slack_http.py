"""The HTTP side of the fake Slack: parses JSON, form and query arguments and the bearer token."""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from bot.demo.fake_slack_api import Params

logger = logging.getLogger(__name__)


class Endpoints(Protocol):
    """What the HTTP layer calls; FakeSlack implements it."""

    def handle_api(
        self, method: str, params: Params, token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one Web API call: (HTTP status, JSON body, extra headers)."""
        ...

    def handle_response_url(self, token: str, body: Params) -> tuple[int, str, dict[str, str]]:
        """Answer one response_url post: (HTTP status, text body, extra headers)."""
        ...


class FakeSlackServer(ThreadingHTTPServer):
    """A threaded loopback server on a free port that hands requests to `endpoints`."""

    daemon_threads = True

    def __init__(self, endpoints: Endpoints) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.endpoints = endpoints


class _Handler(BaseHTTPRequestHandler):
    server: FakeSlackServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake Slack http: %s", format % args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        try:
            params = self._params(parts.query)
        except ValueError as exc:
            self._send(400, "text/plain", str(exc).encode())
            return
        if parts.path.startswith("/api/"):
            token = params.pop("token", None)
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Bearer "):
                token = auth.removeprefix("Bearer ").strip()
            method = parts.path.removeprefix("/api/")
            status, body, headers = self.server.endpoints.handle_api(method, params, token)
            self._send(
                status, "application/json; charset=utf-8", json.dumps(body).encode(), headers
            )
        elif parts.path.startswith("/response/") and self.command == "POST":
            token = parts.path.removeprefix("/response/")
            status, text, headers = self.server.endpoints.handle_response_url(token, params)
            self._send(status, "text/html", text.encode(), headers)
        else:
            self._send(404, "text/plain", b"not found")

    def _params(self, query: str) -> Params:
        params: Params = dict(parse_qsl(query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not raw:
            return params
        if ctype == "application/json":
            try:
                body = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"invalid JSON body: {exc}") from exc
            if not isinstance(body, dict):
                raise ValueError("JSON body must be an object")
            params.update(body)
        elif ctype in ("application/x-www-form-urlencoded", ""):
            params.update(parse_qsl(raw.decode(), keep_blank_values=True))
        else:
            raise ValueError(f"unsupported Content-Type {ctype!r}")
        return params

    def _send(
        self, status: int, ctype: str, payload: bytes, headers: dict[str, str] | None = None
    ) -> None:
        if status == 0:  # an injected fault: close the connection without an answer
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)
