"""How `envbot serve` stops on SIGTERM or SIGINT: not ready at once, then drain, then release.

The order is what keeps an acknowledged command from being lost on a rolling update:

1. `/readyz` answers 503 from the signal on, so the Service stops routing to this pod; for
   `ENVBOT_SHUTDOWN_DELAY` seconds requests that were already routed here are still served.
2. The HTTP server (or the Socket Mode connection) stops taking requests; those under way finish.
3. The ack journal's last records are moved into the inbox and handed to the listener pool,
   which finishes the work of every command it acknowledged (it commits the rows).
4. The scheduler stops and waits for the job runs under way; then, if this replica leads, the
   apply jobs and the outbox run once more, so what was just committed is applied and answered.
5. The jobs' lock is released (a standby takes over within lease/6 s) and the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Protocol

from bot.wiring import Runtime

logger = logging.getLogger(__name__)


class Scheduler(Protocol):
    """The part of APScheduler's BackgroundScheduler that shutting down uses."""

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; with `wait`, after the runs under way."""
        ...


class StopSignal:
    """Set by SIGTERM or SIGINT; `envbot serve` waits on it, `/readyz` reads it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    @property
    def requested(self) -> bool:
        """Whether a stop was asked for (readiness is off from then on)."""
        return self._event.is_set()

    def install(self) -> None:
        """Handle SIGTERM and SIGINT (main thread only)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def request(self) -> None:
        """Ask for a stop, as a signal does."""
        self._event.set()

    def wait(self) -> None:
        """Block until a stop is asked for (waking now and then so signals are handled)."""
        while not self._event.wait(0.5):
            pass

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._event.is_set():
            logger.info("shutdown: %s again; still draining", signal.Signals(signum).name)
            return
        logger.info("shutdown: %s; not ready any more, draining", signal.Signals(signum).name)
        self._event.set()


def drain(
    runtime: Runtime,
    scheduler: Scheduler,
    stop_receiving: Callable[[], None],
    *,
    delay: float,
) -> None:
    """Run steps 1-5 of the module docstring once a stop was asked for.

    Args:
        runtime: the wired bot.
        scheduler: the running job scheduler.
        stop_receiving: closes the HTTP server or the Socket Mode connection, after the
            requests under way.
        delay: seconds to keep serving while the Service stops routing here.
    """
    started = time.monotonic()
    if delay > 0:
        time.sleep(delay)
    stop_receiving()
    runtime.app.intake.close()  # the journal's last acks go to the pool before it finishes
    runtime.listeners.shutdown(wait=True)
    runtime.drain.stop_lingering()  # a drain sending a backlog stops after its sends under way
    scheduler.shutdown(wait=True)
    runtime.jobs.stop()
    runtime.jobs.run_woken()  # only on the leader: run_safely asks it
    runtime.close()
    logger.info("shutdown: drained and released in %.1fs", time.monotonic() - started)
