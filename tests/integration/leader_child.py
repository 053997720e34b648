"""A replica's job loop in a child process (the SIGSTOP test): appends `run <monotonic>` to a
file each time its gated job runs.

    python -m tests.integration.leader_child URL KEY LEASE FILE
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta

from bot.db.session import make_engine
from bot.jobs import Job, JobRunner
from bot.leader import PostgresAdvisoryLeader


def main(url: str, key: int, lease: float, path: str) -> None:
    elector = PostgresAdvisoryLeader(make_engine(url), key, lease=lease)
    elector.start()
    with open(path, "a", buffering=1) as out:

        def run() -> None:
            out.write(f"run {time.monotonic()}\n")

        runner = JobRunner([Job("count", timedelta(seconds=1), run)], leader=elector)
        while True:
            runner.run_all()
            time.sleep(0.005)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
