"""The worker pool starts all its threads when it is made, not inside the first acks' `submit`
(which waits for each new thread to run)."""

from __future__ import annotations

from handlers import WORKERS, listener_pool


def test_the_listener_pool_has_every_thread_before_the_first_request() -> None:
    # execution
    pool = listener_pool()
    try:
        # validating: the warm-up tasks ran together (each waits for all), so every thread exists
        pool.submit(lambda: None).result(10)
        assert len(pool._threads) == WORKERS
    finally:
        pool.shutdown(wait=True)
