"""bench/ack_load.py keeps working: its smoke run at tiny N (two bursts each) prints every
figure of the apps and of their bare baselines (envbot also with its ack journal off; no time is
asserted: the figures themselves are for docs/PERFORMANCE.md)."""

from __future__ import annotations

import os

import pytest

from tests.bench_run import run_bench

FIGURES = ("server_p50", "server_p99", "server_max", "client_p99", "over_3s", "failed")


@pytest.mark.database  # runs the bench on PostgreSQL too when the pass has one
def test_ack_load_bench_smoke_run() -> None:
    # setup: a few requests of every kind, backends blocking 0.2 s
    args = [
        "--requests",
        "8",
        "--rounds",
        "2",
        "--pause",
        "0.1",
        "--block",
        "0.2",
        "--mix",
        "--db-ack",
    ]
    pg = os.environ.get("ENVBOT_TEST_DATABASE_URL")
    if pg:  # the PostgreSQL pass: the SQLite pass runs the SQLite figures
        args += ["--pg-url", pg, "--only-pg"]

    # execution
    figures, out = run_bench("ack_load.py", *args)

    # validating: every line is `name value unit`, each app's figures are there, and envbot
    # acknowledged every request (the bare app too; the hand-written one may fail)
    dbs = ["pg"] if pg else ["sqlite"]
    for db in dbs:
        for app in ("envbot_bare", "envbot", "dbwrite_bare", "dbwrite", "hand"):
            assert {f"{db}_{app}_{f}" for f in FIGURES} <= set(figures), out
        assert f"{db}_ratio_server_p99_envbot_over_dbwrite" in figures, out
        for app in ("envbot", "dbwrite"):
            assert f"{db}_ratio_server_p99_{app}_over_bare" in figures
            assert {f"{db}_{app}_burst_ratio_{f}" for f in ("min", "median", "max")} <= set(
                figures
            ), out
            assert figures[f"{db}_{app}_failed"][0] == 0, out
            assert figures[f"{db}_{app}_bare_failed"][0] == 0, out
