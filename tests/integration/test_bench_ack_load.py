"""bench/ack_load.py keeps working: its smoke run at tiny N prints every figure of the three
apps (no time is asserted; the figures themselves are for docs/PERFORMANCE.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("server_p50", "server_p99", "server_max", "client_p99", "over_3s", "failed")


def test_ack_load_bench_smoke_run() -> None:
    # setup: a few requests of every kind, backends blocking 0.2 s
    argv = [sys.executable, str(ROOT / "bench" / "ack_load.py")]
    argv += ["--requests", "8", "--block", "0.2", "--mix"]
    pg = os.environ.get("ENVBOT_TEST_DATABASE_URL")
    if pg:
        argv += ["--pg-url", pg]

    # execution
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)

    # validating: every line is `name value unit`, each app's figures are there, and envbot
    # acknowledged every request (the bare app too; the hand-written one may fail)
    assert done.returncode == 0, done.stderr
    figures = {}
    for line in done.stdout.splitlines():
        name, value, unit = line.split(" ")
        figures[name] = (float(value), unit)
    dbs = ["sqlite", "pg"] if pg else ["sqlite"]
    for db in dbs:
        for app in ("bare", "envbot", "hand"):
            assert {f"{db}_{app}_{f}" for f in FIGURES} <= set(figures), done.stdout
        assert f"{db}_ratio_server_p99_envbot_over_bare" in figures
        assert figures[f"{db}_envbot_failed"][0] == 0, done.stdout
        assert figures[f"{db}_bare_failed"][0] == 0, done.stdout
