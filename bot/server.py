"""The HTTP side of `envbot serve`: Slack events (signatures checked), health, readiness, metrics.

A plain WSGI app, served by waitress in production and on loopback by the scenario tests, so
the tests exercise exactly the adapter that production runs. Bolt's own adapter lives with the
listeners (`handlers.transport`); this module only mounts it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from waitress.server import create_server

from handlers import SlackApp
from handlers.edge import MAX_BODY
from handlers.transport import StartResponse, WsgiApp, slack_wsgi

logger = logging.getLogger(__name__)


def make_wsgi_app(app: SlackApp, ready: Callable[[], bool] = lambda: True) -> WsgiApp:
    """Route `/slack/events` to Bolt and answer `/healthz`, `/readyz` and `/metrics` ourselves."""
    slack = slack_wsgi(app)

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/slack/events":
            return slack(environ, start_response)
        if path == "/healthz":
            return _plain(start_response, "200 OK", b"ok")
        if path == "/readyz":
            ok = ready()
            return _plain(
                start_response,
                "200 OK" if ok else "503 Service Unavailable",
                b"ready" if ok else b"not ready",
            )
        if path == "/metrics":
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
            return [generate_latest()]
        return _plain(start_response, "404 Not Found", b"not found")

    return wsgi


def _plain(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


class HttpServer:
    """waitress on (host, port); port 0 picks a free one. `serve_forever()` blocks."""

    def __init__(self, wsgi: WsgiApp, host: str, port: int, threads: int = 16) -> None:
        # waitress buffers a whole body before calling the app; its own limit answers 413 while
        # reading, so an oversized upload is cut off on the wire, not after it has been stored.
        # The select loop wakes every 0.1 s (waitress's default is 1 s), so stop() ends the
        # loop promptly once it has closed the sockets: a rolling update, and every test's server.
        self._server = create_server(
            wsgi,
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=MAX_BODY,
            asyncore_loop_timeout=0.1,
        )
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://{self._server.effective_host}:{self._server.effective_port}"

    def serve_forever(self) -> None:
        logger.info("listening on %s", self.url)
        self._server.run()

    def start(self) -> HttpServer:
        """Serve from a daemon thread (`envbot serve` and the tests)."""
        logger.info("listening on %s", self.url)
        self._thread = threading.Thread(target=self._run, daemon=True, name="envbot-http")
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._server.run()
        except (OSError, ValueError):
            # Closing the sockets from stop() ends waitress's select loop this way.
            if not self._stopping.is_set():
                raise

    def stop(self) -> None:
        """Finish the requests in flight, close every socket, and wait for the loop to end."""
        self._stopping.set()
        # Worker threads wake the loop through its trigger when they finish a response; stop
        # them first so none writes to a trigger that is already closed.
        self._server.task_dispatcher.shutdown(timeout=5)
        for channel in list(self._server._map.values()):
            channel.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
