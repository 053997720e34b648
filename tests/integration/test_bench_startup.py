"""Smoke run of `bench/startup.py --small`: it keeps working and prints its figures (no time is
asserted: the figures go to docs/PERFORMANCE.md, measured on purpose, not in CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NAMES = {
    "startup_libraries",
    "startup_library_modules",
    "startup_baseline_import",
    "startup_serve_readyz",
    "startup_serve_ack",
    "startup_difference",
    "startup_baseline_cpu",
    "startup_serve_cpu",
    "startup_cpu_difference",
    "startup_baseline_rss",
    "startup_serve_rss",
    "startup_rss_difference",
    "startup_rounds",
}

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("ENVBOT_TEST_DATABASE_URL")),
    reason="the bench serves its own SQLite database; covered by the SQLite pass",
)


def test_startup_bench_prints_its_figures() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "startup.py"), "--small"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    figures = {}
    for line in run.stdout.splitlines():
        name, value, unit = line.split(" ")
        figures[name] = (float(value), unit)
    assert set(figures) == NAMES
    assert figures["startup_rounds"] == (1.0, "count")
    assert figures["startup_libraries"][0] > 0  # the baseline imported what serve had loaded
    assert figures["startup_serve_rss"][1] == "MB"
