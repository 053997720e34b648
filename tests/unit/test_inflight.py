"""The reconcile job's pool of backend calls: inline at 0, one call per key, bounded, and a
call that raises is logged without losing the pool."""

from __future__ import annotations

import functools
import threading

import pytest

from bot.lifecycle.inflight import InFlight


def test_concurrency_zero_runs_each_call_inline() -> None:
    calls = InFlight(0)
    ran: list[str] = []

    assert calls.submit("a", lambda: ran.append(threading.current_thread().name))

    assert ran == [threading.current_thread().name]  # in the caller's thread, done on return
    assert not calls.busy("a")


def test_one_call_per_key_at_most_concurrency_at_once() -> None:
    # setup: two threads, three keys, every call held
    calls = InFlight(2)
    gate = threading.Event()
    started: list[str] = []
    lock = threading.Lock()

    def held(key: str) -> None:
        with lock:
            started.append(key)
        assert gate.wait(10)

    # execution
    accepted = [calls.submit(k, functools.partial(held, k)) for k in ("a", "a", "b", "c")]
    busy_before = [calls.busy(k) for k in ("a", "b", "c")]
    running_before = calls.running()
    gate.set()
    calls.settle(10)
    calls.close()

    # validating
    assert accepted == [True, False, True, True]  # the second "a" was refused
    assert busy_before == [True, True, True]  # handed over (c waits for a thread)
    assert running_before == 3
    assert sorted(started) == ["a", "b", "c"]
    assert calls.running() == 0


def test_a_call_that_raises_is_logged_and_the_pool_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = InFlight(1)

    def boom() -> None:
        raise RuntimeError("kaput")

    calls.submit("a", boom)
    calls.settle(10)
    ran: list[str] = []
    calls.submit("a", lambda: ran.append("again"))
    calls.settle(10)
    calls.close()

    assert ran == ["again"]
    assert "background call for a failed" in caplog.text
    assert "kaput" in caplog.text


def test_negative_concurrency_is_refused_with_what_to_do() -> None:
    with pytest.raises(ValueError, match="0 \\(inline\\) or more"):
        InFlight(-1)
