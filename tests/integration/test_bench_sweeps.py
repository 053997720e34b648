"""bench/sweeps.py keeps working: its smoke run at tiny N prints every figure (no time is
asserted; the figures themselves are for docs/PERFORMANCE.md)."""

from __future__ import annotations

import os

import pytest

from tests.bench_run import run_bench


@pytest.mark.database  # runs the bench on PostgreSQL too when the pass has one
def test_sweeps_bench_smoke_run() -> None:
    # setup
    args = ["--small"]
    pg = os.environ.get("ENVBOT_TEST_DATABASE_URL")
    if pg:
        args += ["--pg-url", pg]

    # execution
    figures, out = run_bench("sweeps.py", *args)

    # validating: every line is `name value unit`, and each figure is there
    expected = {
        "idle_tick_ms_50",
        "idle_tick_ms_200",
        "idle_tick_ms_200_without_sweeps_indexes",
        "idle_tick_ratio",
        "due_20_s_sqlite",
        "due_20_s_sqlite_per_item_baseline",
    }
    if pg:
        expected |= {"due_20_s_postgresql", "due_20_s_postgresql_per_item_baseline"}
    assert expected <= set(figures), out
    assert figures["reminded_in_horizon_200"][0] > 0  # the horizon holds reminded objects
