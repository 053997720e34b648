"""bench/reconcile.py keeps working: its smoke run at tiny N prints every figure (no time is
asserted; the figures themselves are for docs/PERFORMANCE.md)."""

from __future__ import annotations

from tests.bench_run import run_bench


def test_reconcile_bench_smoke_run() -> None:
    # execution
    figures, out = run_bench("reconcile.py", "--small")

    # validating: every line is `name value unit`, each figure is there, and the counts that
    # do not depend on the machine say what P4 promises
    assert {
        "ideal_s",
        "create_pass_s",
        "ratio",
        "pass_returned_s",
        "create_pass_s_sequential_baseline",
        "create_pass_client_cpu_s",
        "create_pass_server_cpu_s",
    } <= set(figures), out
    assert figures["requests_per_env"] == (5.0, "requests")
    assert figures["requests_per_observe_pass_4"] == figures["requests_per_observe_pass_12"]
    assert figures["rows_loaded_per_idle_pass_12"] == (0.0, "rows")
    assert figures["rows_loaded_per_idle_pass_12_full_pass_baseline"] == (12.0, "rows")
