"""bench/sweeps.py keeps working: its smoke run at tiny N prints every figure (no time is
asserted; the figures themselves are for docs/PERFORMANCE.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sweeps_bench_smoke_run() -> None:
    # setup
    argv = [sys.executable, str(ROOT / "bench" / "sweeps.py"), "--small"]
    pg = os.environ.get("ENVBOT_TEST_DATABASE_URL")
    if pg:
        argv += ["--pg-url", pg]

    # execution
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)

    # validating: every line is `name value unit`, and each figure is there
    assert done.returncode == 0, done.stderr
    figures = {}
    for line in done.stdout.splitlines():
        name, value, unit = line.split(" ")
        figures[name] = (float(value), unit)
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
    assert expected <= set(figures), done.stdout
    assert figures["reminded_in_horizon_200"][0] > 0  # the horizon holds reminded objects
