"""Run a `bench/` script as CI's smoke run does and read its `name value unit` lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

Figures = dict[str, tuple[float, str]]


def run_bench(script: str, *args: str, timeout: float = 600) -> tuple[Figures, str]:
    """Run `bench/<script>` with `args`; fail the test unless it exits 0 and every line it
    prints is `name value unit`.

    Returns:
        The figures by name, and the whole output (for assertion messages).
    """
    argv = [sys.executable, str(ROOT / "bench" / script), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr
    figures: Figures = {}
    for line in done.stdout.splitlines():
        name, value, unit = line.split(" ")
        figures[name] = (float(value), unit)
    return figures, done.stdout
