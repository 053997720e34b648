"""A loopback TCP relay that can be frozen: it stops forwarding and accepting, but closes nothing.

That is what PostgreSQL sees when a client's host loses power or is partitioned away: the
session stays open, no FIN or RST ever arrives, and on loopback the kernel still acknowledges
every packet, so TCP keepalives cannot tell. Used by the failover tests and `bench/failover.py`.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from sqlalchemy.engine import make_url


class Relay:
    """Forwards connections on 127.0.0.1:`port` to (host, target_port) until `freeze()`."""

    def __init__(self, host: str, target_port: int) -> None:
        self._target = (host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._frozen = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="relay-accept", daemon=True).start()

    @classmethod
    def to_url(cls, url: str) -> tuple[Relay, str]:
        """A relay to the database of `url`, and the same URL through the relay."""
        parsed = make_url(url)
        relay = cls(parsed.host or "127.0.0.1", parsed.port or 5432)
        relayed = parsed.set(host="127.0.0.1", port=relay.port)
        return relay, relayed.render_as_string(hide_password=False)

    def freeze(self) -> None:
        """Stop forwarding and accepting; every socket stays open, nothing is sent."""
        self._frozen.set()

    def close(self) -> None:
        """Close every socket (the end of a test: only now do the peers see the connections go).

        Each is shut down before it is closed: a socket that a pump thread is blocked reading is
        not closed by `close()` alone (the blocked call keeps it open, and no FIN is sent), so
        PostgreSQL would keep that session, and any row lock its open transaction holds, for as
        long as this process lives: the next test's cleanup then waits on it forever.
        """
        with self._lock:
            self._closed.set()
            self._frozen.set()
            socks, self._sockets = self._sockets, []
        for sock in [self._listener, *socks]:
            _shut(sock)

    def _accept(self) -> None:
        while not self._frozen.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._frozen.is_set():
                self._keep(client)  # accepted by the kernel, never answered
                break
            try:
                upstream = socket.create_connection(self._target)
            except OSError:
                client.close()
                continue
            self._keep(client, upstream)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()
        self._closed.wait()  # stop accepting, but leave the backlog's connections hanging

    def _keep(self, *socks: socket.socket) -> None:
        with self._lock:
            if not self._closed.is_set():
                self._sockets.extend(socks)
                return
        for sock in socks:  # accepted or connected while close() ran
            _shut(sock)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if self._frozen.is_set():
                self._closed.wait()  # drop what arrived and park: no FIN, no RST
                return
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            try:
                dst.sendall(data)
            except OSError:
                return


def _shut(sock: socket.socket) -> None:
    """Send FIN and wake any thread blocked on `sock`, then close it."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
