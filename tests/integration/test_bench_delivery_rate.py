"""bench/delivery_rate.py keeps working: its smoke run at small N prints every figure, with
nothing lost or doubled (no time is asserted; the figures are for docs/PERFORMANCE.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_delivery_rate_bench_smoke_run() -> None:
    # setup
    argv = [sys.executable, str(ROOT / "bench" / "delivery_rate.py"), "--small"]

    # execution
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)

    # validating: every line is `name value unit`, each figure is there, none lost or doubled
    assert done.returncode == 0, done.stderr
    figures = {}
    for line in done.stdout.splitlines():
        name, value, unit = line.split(" ")
        figures[name] = (float(value), unit)
    expected = {
        "floor",
        "measured",
        "ratio",
        "lost",
        "duplicated",
        "dm_time",
        "dm_lost",
        "dm_duplicated",
        "dm_conversations_open",
    }
    assert expected <= set(figures), done.stdout
    for name in ("lost", "duplicated", "dm_lost", "dm_duplicated", "dm_conversations_open"):
        assert figures[name][0] == 0, name
