"""A fake of Slack's Socket Mode over loopback: `apps.connections.open` and the WebSocket.

What it does, as Slack documents it (api.slack.com/apis/connections/socket-implement):
`POST /api/apps.connections.open` with an app-level token (`xapp-`; any other token is
`not_allowed_token_type`, none is `not_authed`) answers a one-use `wss` URL (`ws` here); on
connect the server sends `{"type": "hello", ...}`; then it pushes envelopes
(`{"envelope_id", "type", "payload", "accepts_response_payload", ...}`) and the app answers
each with `{"envelope_id": ..., "payload"?: ...}`. A ticket used twice is refused (401).
Raw frames can be pushed too, to see what the app does with one Slack would never send.
"""

from __future__ import annotations

import asyncio
import json
import queue
import secrets
import socket
import threading
from typing import Any

from aiohttp import WSMsgType, web


class FakeSocketMode:
    """Run it with `start()`; `api_url` is the Web API base for a `WebClient`."""

    def __init__(self, app_id: str = "A0ENVBOT") -> None:
        self.app_id = app_id
        self.acks: queue.Queue[dict[str, Any]] = queue.Queue()
        self._tickets: set[str] = set()
        self._loop = asyncio.new_event_loop()
        self._socket: web.WebSocketResponse | None = None
        self._connected = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def start(self) -> FakeSocketMode:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        async def down() -> None:
            if self._socket is not None:
                await self._socket.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(down(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def wait_connected(self, timeout: float = 10) -> None:
        if not self._connected.wait(timeout):
            raise AssertionError("the app never connected over Socket Mode")

    def send(self, kind: str, payload: Any, **extra: Any) -> str:
        """Push an envelope of `kind` (events_api, slash_commands, interactive); its id."""
        envelope_id = secrets.token_hex(8)
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            **extra,
        }
        self.send_raw(json.dumps(envelope))
        return envelope_id

    def send_raw(self, frame: str) -> None:
        """Push one text frame as it is."""

        async def push() -> None:
            assert self._socket is not None
            await self._socket.send_str(frame)

        asyncio.run_coroutine_threadsafe(push(), self._loop).result(10)

    def ack(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        """Wait for the app's answer to `envelope_id` (answers to others are kept for later)."""
        kept: list[dict[str, Any]] = []
        try:
            while True:
                got = self.acks.get(timeout=timeout)
                if got.get("envelope_id") == envelope_id:
                    return got
                kept.append(got)
        except queue.Empty:
            raise AssertionError(f"no ack for envelope {envelope_id}") from None
        finally:
            for other in kept:
                self.acks.put(other)

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/api/apps.connections.open", self._open)
        app.router.add_get("/link/", self._link)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def _open(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
        if not token:
            return web.json_response({"ok": False, "error": "not_authed"})
        if not token.startswith("xapp-"):
            return web.json_response({"ok": False, "error": "not_allowed_token_type"})
        ticket = secrets.token_hex(8)
        self._tickets.add(ticket)
        url = f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"
        return web.json_response({"ok": True, "url": url})

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._socket = ws
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        }
        await ws.send_str(json.dumps(hello))
        self._connected.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.acks.put(json.loads(msg.data))
        return ws
