"""Runs the outbox drain's sends: inline (one worker: in order, as the stepped runner needs)
or on a bounded pool of threads, so sends to different channels overlap."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Any


class Sender:
    """Runs `submit`ted sends and adds up what they return (messages sent)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = (
            ThreadPoolExecutor(workers, thread_name_prefix="outbox") if workers > 1 else None
        )
        self._running: set[Future[int]] = set()
        self.sent = 0

    @property
    def busy(self) -> bool:
        """Whether a send is still running."""
        self._collect([f for f in self._running if f.done()])
        return bool(self._running)

    @property
    def saturated(self) -> bool:
        """Whether every worker has a send: another would wait in a queue, and its slot (timed
        from when it was let go) would not be when it reaches Slack."""
        return self._pool is not None and self.busy and len(self._running) >= self.workers

    def submit(self, send: Callable[..., int], *args: Any) -> None:
        """Run `send(*args)`: now, or on a worker thread."""
        if self._pool is None:
            self.sent += send(*args)
            return
        self._running.add(self._pool.submit(send, *args))

    def wait(self, timeout: float) -> None:
        """Return after `timeout` seconds, or once every running send has ended (once one has,
        when every worker is busy)."""
        if not self._running:
            time.sleep(max(timeout, 0.0))
            return
        when = FIRST_COMPLETED if len(self._running) >= self.workers else ALL_COMPLETED
        done, _ = wait(self._running, timeout=max(timeout, 0.0), return_when=when)
        self._collect(done)

    def _collect(self, done: Any) -> None:
        for future in done:
            self._running.discard(future)
            self.sent += future.result()  # a send's own errors are handled inside it

    def __enter__(self) -> Sender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            if exc is None:
                self._collect(list(self._running))
