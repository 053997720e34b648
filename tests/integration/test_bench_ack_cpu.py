"""bench/ack_cpu.py keeps working: its smoke run prints each app's CPU and Python calls per ack
(no time is asserted: the figures themselves are for docs/PERFORMANCE.md)."""

from __future__ import annotations

from tests.bench_run import run_bench


def test_ack_cpu_bench_smoke_run() -> None:
    figures, out = run_bench("ack_cpu.py", "--requests", "10")
    for app in ("bare", "journal"):
        assert {f"{app}_cpu_mean", f"{app}_cpu_p50", f"{app}_calls"} <= set(figures), out
        assert figures[f"{app}_calls"][0] > 0, out
    assert "ratio_calls_journal_over_bare" in figures, out
