"""Job leader failover on PostgreSQL: seconds until a standby leads after the leader dies.

Two cases, N trials each, with a fresh lock key per trial:

* `kill9`: the leader is a child process holding the lease; it gets SIGKILL.
* `frozen`: the leader reaches PostgreSQL through a TCP relay that stops forwarding without
  closing anything (a host that lost power, or a partition).

The standby is an elector in this process, polled every 5 ms. For the frozen case it also
reports how long before the takeover the cut-off leader had stopped leading on its own (its
child prints the moment; CLOCK_MONOTONIC is shared by all processes). Prints `name value unit`.

    .venv/bin/python bench/failover.py --database-url postgresql+psycopg://... --trials 5
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.relay

from bot.db.session import make_engine  # noqa: E402
from bot.leader import PostgresAdvisoryLeader  # noqa: E402
from tests.relay import Relay  # noqa: E402


def child(url: str, key: int, lease: float) -> None:
    """Keep the lease and print `took <t>` / `lost <t>` (monotonic seconds) as they happen."""
    elector = PostgresAdvisoryLeader(make_engine(url), key, lease=lease)
    elector.start()
    leading = False
    while True:
        now = elector.is_leader()
        if now != leading:
            leading = now
            print("took" if now else "lost", time.monotonic(), flush=True)
        time.sleep(0.005)


def trial(url: str, lease: float, frozen: bool) -> tuple[float, float | None]:
    """One failover: (seconds to takeover, seconds the old leader stopped before it)."""
    key = secrets.randbelow(2**31 - 1) + 1
    relay, leader_url = Relay.to_url(url) if frozen else (None, url)
    command = [sys.executable, __file__, "--child", "--database-url", leader_url]
    proc = subprocess.Popen(  # noqa: S603 - this script, as the leader
        [*command, "--key", str(key), "--lease", str(lease)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    engine = make_engine(url)
    standby = PostgresAdvisoryLeader(engine, key, lease=lease)
    try:
        if proc.stdout is None:
            raise SystemExit("no pipe to the leader child")
        line = proc.stdout.readline()
        if not line.startswith("took"):
            raise SystemExit(f"the leader child did not take the lock: {line!r}")
        standby.start()
        # a few heartbeats on both sides, then a cut at a random phase of the standby's retries
        time.sleep(lease / 2 + random.uniform(0, lease / 6))
        if standby.is_leader():
            raise SystemExit("two leaders: the standby leads while the child holds the lock")
        cut_at = time.monotonic()
        if relay is not None:
            relay.freeze()
        else:
            os.kill(proc.pid, signal.SIGKILL)
        while not standby.is_leader():
            if time.monotonic() - cut_at > 10 * lease:
                raise SystemExit("no takeover within 10 leases")
            time.sleep(0.005)
        took_at = time.monotonic()
        margin = None
        if relay is not None:
            lost = proc.stdout.readline().split()
            if lost[:1] != ["lost"]:
                raise SystemExit(f"the cut-off leader never stopped leading: {lost!r}")
            margin = took_at - float(lost[1])
        return took_at - cut_at, margin
    finally:
        proc.kill()
        proc.wait()
        standby.close()
        engine.dispose()
        if relay is not None:
            relay.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("ENVBOT_TEST_DATABASE_URL"))
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--key", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.database_url or not args.database_url.startswith("postgresql"):
        parser.error("needs a PostgreSQL --database-url (or ENVBOT_TEST_DATABASE_URL)")
    if args.child:
        child(args.database_url, args.key, args.lease)
        return 0
    print(f"lease {args.lease:g} s")
    print(f"trials {args.trials} count")
    for case, frozen in (("kill9", False), ("frozen", True)):
        runs = [trial(args.database_url, args.lease, frozen) for _ in range(args.trials)]
        takeovers = [t for t, _ in runs]
        print(f"{case}_takeover_p50 {statistics.median(takeovers):.3f} s")
        print(f"{case}_takeover_max {max(takeovers):.3f} s")
        print(f"{case}_over_lease {sum(t > args.lease for t in takeovers)} count")
        margins = [m for _, m in runs if m is not None]
        if margins:
            print(f"{case}_old_leader_stopped_before_takeover_min {min(margins):.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
