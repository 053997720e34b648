"""The time-driven jobs' cost against what is stored (issue 14, P2), with baselines in-run.

Seeds N live environments and N live grants (with as many ended ones, their audit rows and
outbox rows, and objects within the 24 h reminder horizon that were already reminded), then:

- `idle_tick_ms_<N>`: one pass of every time-driven job (expiry, timeouts, reminders, the
  outbox drain, retention, cloud cleanup) with nothing due, the median of several, at each N;
  `idle_tick_ratio` is the largest N over the smallest. The baseline is the same tick with
  the indexes of the sweeps migration dropped, in the same run. `*_cpu_*` figures are the thread's
  CPU time, which other processes on the machine inflate less than wall time; `loadavg_1m`
  says how busy the machine was.
- `due_1000_s_<db>`: one expiry pass over 1,000 due environments, batched; the baseline is
  the same pass with one transaction per item writing as it goes (batch size 1, bulk
  writes off), as before.

Prints `name value unit` lines. PostgreSQL figures need `--pg-url` (a server with its default
durability: fsync and synchronous_commit on; the script prints both):

    .venv/bin/python bench/sweeps.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/sweeps.py --small   # the CI smoke run
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sweeps_seed import Seed, seed  # bench/sweeps_seed.py, beside this script

from bot.db import migrate
from bot.demo.fake_slack import FakeSlack
from bot.domain.clock import ManualClock
from bot.lifecycle import batch
from bot.policy import Policy, load_policy
from bot.slack.directory import SlackDirectory
from bot.wiring import Runtime, build_runtime
from provisioning.fake import FakeAccessBackend, FakeEnvironmentBackend

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# The jobs that act on the clusters every pass whatever is stored (drift) are issue 14's P4.
OBSERVING = {"reconcile", "access-reconcile"}
NEW_INDEXES = (
    "ix_access_requests_state_pending_until",
    "ix_environments_state_remind_at",
    "ix_access_requests_state_remind_at",
    "ix_outbox_object",
    "ix_outbox_status_created_at",
)


def emit(name: str, value: float, unit: str) -> None:
    """One figure, as `name value unit`."""
    print(f"{name} {value:.3f} {unit}", flush=True)


@contextmanager
def database(pg_url: str | None, tmp: str) -> Iterator[str]:
    """A fresh, migrated database: a SQLite file, or a new database on the PostgreSQL server."""
    if pg_url is None:
        url = f"sqlite:///{tmp}/sweeps-{secrets.token_hex(4)}.db"
        migrate.upgrade(url)
        yield url
        return
    name = f"envbot_bench_{secrets.token_hex(4)}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def runtime(url: str, policy: Policy, clock: ManualClock) -> Iterator[Runtime]:
    """The bot as `envbot serve` wires it, against the fake Slack and fake backends."""
    with FakeSlack(now=clock.now) as slack:
        client = slack.web_client()
        env, access = FakeEnvironmentBackend(clock), FakeAccessBackend()
        wired = build_runtime(
            policy=policy,
            database_url=url,
            client=client,
            directory=SlackDirectory(client),
            signing_secret="bench",  # noqa: S106 - nothing is signed here
            clock=clock,
            env_backends={"fake": env, "capi": env, "namespace": env},
            access_backends={"fake": access, "kommander": access, "rbac": access},
        )
        try:
            yield wired
        finally:
            wired.close()


def idle_tick_ms(wired: Runtime, ticks: int) -> tuple[float, float]:
    """The median wall time and CPU time of one pass of every time-driven job, in ms (CPU
    time says what the pass costs when other processes compete for the cores)."""
    jobs = [job for job in wired.jobs.jobs if job.name not in OBSERVING]
    wall, cpu = [], []
    for _ in range(ticks + 1):
        started, started_cpu = time.perf_counter(), time.thread_time()
        for job in jobs:
            wired.jobs.run(job)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    return statistics.median(wall[1:]), statistics.median(cpu[1:])  # the first pass warms


def drop_new_indexes(engine: Engine) -> None:
    """Take the sweeps migration's indexes away (the baseline's schema)."""
    with engine.begin() as conn:
        for name in NEW_INDEXES:
            conn.execute(text(f"DROP INDEX {name}"))
        if engine.dialect.name == "sqlite":
            conn.execute(text("ANALYZE"))


def bench_idle(sizes: list[int], ticks: int, policy: Policy, tmp: str) -> None:
    """Idle ticks at each size, then the baseline without the new indexes at the largest."""
    results: dict[int, tuple[float, float]] = {}
    for n in sizes:
        clock = ManualClock(NOW)
        with database(None, tmp) as url, runtime(url, policy, clock) as wired:
            counts = seed(wired.engine, policy, Seed(live=n, due=0), NOW)
            emit("loadavg_1m", os.getloadavg()[0], "load")
            results[n] = idle_tick_ms(wired, ticks)
            emit(f"idle_tick_ms_{n}", results[n][0], "ms")
            emit(f"idle_tick_cpu_ms_{n}", results[n][1], "ms")
            emit(f"reminded_in_horizon_{n}", counts.reminded, "objects")
            if n == sizes[-1]:
                drop_new_indexes(wired.engine)
                wall, cpu = idle_tick_ms(wired, ticks)
                emit(f"idle_tick_ms_{n}_without_sweeps_indexes", wall, "ms")
                emit(f"idle_tick_cpu_ms_{n}_without_sweeps_indexes", cpu, "ms")
    emit("idle_tick_ratio", results[sizes[-1]][0] / results[sizes[0]][0], "x")
    emit("idle_tick_cpu_ratio", results[sizes[-1]][1] / results[sizes[0]][1], "x")


def bench_due(db: str, pg_url: str | None, live: int, due: int, policy: Policy, tmp: str) -> None:
    """One expiry pass over `due` environments: batched, and one transaction per item."""
    for label, size, bulk in (("", batch.BATCH, True), ("_per_item_baseline", 1, False)):
        clock = ManualClock(NOW)
        with database(pg_url, tmp) as url, runtime(url, policy, clock) as wired:
            if label == "" and pg_url is not None:
                report_durability(wired.engine)
            seed(wired.engine, policy, Seed(live=live, due=due), NOW)
            expiry = next(job for job in wired.jobs.jobs if job.name == "expiry")
            saved, batch.BATCH, batch.BULK = batch.BATCH, size, bulk
            emit("loadavg_1m", os.getloadavg()[0], "load")
            try:
                started, started_cpu = time.perf_counter(), time.thread_time()
                moved = expiry.run()
                elapsed, cpu = time.perf_counter() - started, time.thread_time() - started_cpu
            finally:
                batch.BATCH, batch.BULK = saved, True
            emit(f"due_{due}_s_{db}{label}", elapsed, "s")
            emit(f"due_{due}_cpu_s_{db}{label}", cpu, "s")
            if moved != due:
                raise SystemExit(f"expected {due} expiries, the pass made {moved}")


def report_durability(engine: Engine) -> None:
    """Say which durability the PostgreSQL figures were taken with (1 = on)."""
    with engine.connect() as conn:
        for setting in ("fsync", "synchronous_commit"):
            value = conn.execute(text(f"SHOW {setting}")).scalar_one()
            emit(f"pg_{setting}", 1.0 if value == "on" else 0.0, "on")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="tiny N, for the CI smoke run")
    parser.add_argument("--pg-url", help="a PostgreSQL server for the PostgreSQL figures")
    parser.add_argument("--ticks", type=int, default=15)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    policy = load_policy(ROOT / "examples" / "policy.yaml")
    sizes, live, due, ticks = (
        ([50, 200], 50, 20, 2) if args.small else ([10_000, 100_000], 10_000, 1_000, args.ticks)
    )
    with tempfile.TemporaryDirectory() as tmp:
        bench_idle(sizes, ticks, policy, tmp)
        bench_due("sqlite", None, live, due, policy, tmp)
        if args.pg_url:
            bench_due("postgresql", args.pg_url, live, due, policy, tmp)


if __name__ == "__main__":
    main()
