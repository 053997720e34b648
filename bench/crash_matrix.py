"""The kill -9 crash matrix: every crash point, N runs each, of a real `envbot serve`.

Each run starts the demo world (fake Slack, fake API server with TLS, the CAPI stand-in), a
`serve` on an empty database, crashes it with SIGKILL at the point (chosen from outside, see
tests/integration/crash_world.py), starts a new `serve` on the same database, replays the same
signed request and runs the jobs until quiet. Points:

* `command-ack`: `/env create sandbox` is acknowledged and its worker held at its first Slack call
  (`users.info`), before it wrote anything; kill.
* `card-accepted`: Slack accepted the card's chat.postMessage; its answer is held; kill.
* `provision-write`: the fake API server holds the Cluster write of `/env create sandbox`; kill;
  the write is then done (the server finishes what it accepted, the client is gone).
* `approve-ack`: an owner's Approve click on a `prod-cluster` request is acknowledged; kill.
* `grant-write`: the first write of an approved access grant is held; kill; then done.
* `answer-held` (PostgreSQL only; skipped on SQLite): `/env create sandbox`'s effect committed,
  its answer's INSERT waits on a row the bench holds uncommitted with the answer's key; kill;
  the fallback answer must reach the command's response_url once (counted as lost/doubled).

Prints `name value unit` lines per point and in total: runs, lost and doubled channel/DM posts
(checked by each outbox key's metadata in the fake's accepted calls), stuck (rows not sent, or
the environment/grant short of READY/ACTIVE after `--quiet` seconds, inbox rows not run),
replays executed, and `serve` logs with a traceback. Every request must be answered 200 (a run
that is not stops the bench with the status, the body and the log); `--logs DIR` keeps the logs.

    .venv/bin/python bench/crash_matrix.py --runs 3
    .venv/bin/python bench/crash_matrix.py --runs 3 --database-url postgresql+psycopg://...
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.integration.crash_world

from sqlalchemy import Engine  # noqa: E402

from bot.db import migrate  # noqa: E402
from bot.db.models import Base  # noqa: E402
from bot.db.session import make_engine  # noqa: E402
from tests.integration.crash_world import (  # noqa: E402
    POINTS,
    POSTGRES_ONLY,
    Outcome,
    crash_world,
    run_point,
)


def _empty(engine: Engine) -> None:
    """Every table but the install id emptied, so a run counts only its own rows."""
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "install":
                conn.execute(table.delete())


def main() -> None:
    """Run the matrix and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--points", default=",".join(POINTS))
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    parser.add_argument("--quiet", type=float, default=60.0, help="seconds to wait for the end")
    parser.add_argument("--logs", default="", help="keep each serve's log here (default: dropped)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the fakes' dead-client errors are expected
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/crash.db"
        migrate.upgrade(url)
        engine = make_engine(url)
        outcomes: list[Outcome] = []
        tracebacks: dict[str, int] = {}  # serve logs with a traceback, per point
        points = [
            p
            for p in args.points.split(",")
            if p not in POSTGRES_ONLY or engine.dialect.name == "postgresql"
        ]
        for point in points:
            for run in range(args.runs):
                _empty(engine)
                logs = Path(args.logs or tmp) / f"{point}-{run}"
                logs.mkdir(parents=True, exist_ok=True)
                with crash_world(url, engine, logs, args.quiet) as crash:
                    outcome = run_point(crash, point)
                tracebacks[point] = tracebacks.get(point, 0) + sum(
                    "Traceback" in log.read_text(errors="replace") for log in logs.glob("*.log")
                )
                outcomes.append(outcome)
                print(f"# {point} run {run}: {outcome.detail}", flush=True)
        engine.dispose()
    print(f"database {engine.dialect.name} -")
    for point in [*points, "total"]:
        mine = [o for o in outcomes if point in ("total", o.point)]
        print(f"{point}.runs {len(mine)} runs")
        print(f"{point}.messages {sum(o.messages for o in mine)} messages")
        for name in ("lost", "doubled", "stuck", "replays"):
            unit = "replays_executed" if name == "replays" else "count"
            print(f"{point}.{name} {sum(getattr(o, name) for o in mine)} {unit}")
        logged = sum(n for p, n in tracebacks.items() if point in ("total", p))
        print(f"{point}.tracebacks {logged} serve_logs")
    print(f"elapsed {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
