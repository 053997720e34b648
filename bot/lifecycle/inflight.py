"""Backend calls run off the job's thread, at most `concurrency` at once and one per object.

A reconcile pass hands each slow call (an environment's create) to this pool and goes on to
observe: a pass never waits for a call, and an object whose call is still running is not
handed over again. `concurrency` 0 runs each call inline, as the pass used to (the benches'
baseline). What a call records it records itself, in its own transaction, so a call cut short
by a crash simply runs again on a later pass (every backend call is idempotent).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

logger = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8


class InFlight:
    """Bounded background calls keyed by object id."""

    def __init__(self, concurrency: int = DEFAULT_CONCURRENCY, name: str = "envbot-call") -> None:
        if concurrency < 0:
            raise ValueError(f"concurrency must be 0 (inline) or more, got {concurrency}")
        self.concurrency = concurrency
        self._name = name
        self._pool: ThreadPoolExecutor | None = None
        self._running: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def busy(self, key: str) -> bool:
        """Whether a call for `key` was handed over and has not finished."""
        with self._lock:
            return key in self._running

    def submit(self, key: str, call: Callable[[], None]) -> bool:
        """Run `call` for `key` (inline when concurrency is 0); False if one already runs for
        `key`. A call that raises is logged; the next pass retries."""
        if self.concurrency == 0:
            _logged(key, call)
            return True
        with self._lock:
            if key in self._running:
                return False
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=self._name)
            future = self._pool.submit(_logged, key, call)
            self._running[key] = future
        future.add_done_callback(lambda _f: self._done(key))
        return True

    def running(self) -> int:
        """How many calls are handed over and not finished."""
        with self._lock:
            return len(self._running)

    def settle(self, timeout: float | None = None) -> None:
        """Wait until every call handed over so far has finished (the stepped runner's
        determinism: a simulated tick ends with its calls done)."""
        with self._lock:
            futures = list(self._running.values())
        if futures:
            wait(futures, timeout)

    def close(self) -> None:
        """Drop the calls not started (a later pass, maybe in another process, makes them
        again) and release the threads once the running ones finish; a later `submit` starts
        a new pool."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _done(self, key: str) -> None:
        with self._lock:
            self._running.pop(key, None)


def _logged(key: str, call: Callable[[], None]) -> None:
    try:
        call()
    except Exception:  # the pool's boundary: one call's bug must not be lost silently
        logger.exception("background call for %s failed; a later pass tries again", key)
