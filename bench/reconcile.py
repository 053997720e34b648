"""The reconcile job against a slow API server (issue 14, P4), with its baselines in-run.

N namespace environments (`dev` template, each a Namespace, a ResourceQuota, a LimitRange and a
RoleBinding) are created through the service, then reconciled against the fake Kubernetes API
server running in a child process (as a real one is another process), every request held a
fixed service time (`--service-ms`, 20) and schema validation off, with the real `kubernetes`
client. Figures:

- `create_pass_s`: from the pass that finds the N PROVISIONING environments until every create
  it handed to the pool (`--concurrency`, 8) has finished; `ideal_s` is N x requests per
  environment x service time / concurrency, `ratio` the one over the other (goal <= 1.5).
  The baseline is the same pass with concurrency 0 (creates one after another inside the pass,
  as before), with a fresh database and names on the same server; `sequential_ratio` is it
  over its own ideal (N x requests x service time): what a request costs beyond the service
  time on this machine, which no concurrency removes; `speedup` is baseline over pass.
- `pass_returned_s`: how long that pass itself took: observation does not wait for creates.
- `requests_per_observe_pass_<n>`: API requests of a pass over READY environments at rest, at
  two N; `rows_loaded_per_idle_pass_<n>`: environment rows it loaded; the baseline loads every
  watched row on every pass (a full pass each time, as before).

    .venv/bin/python bench/reconcile.py            # N=500 and N=50, 20 ms, concurrency 8
    .venv/bin/python bench/reconcile.py --small    # the CI smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.reconcile_world

from bot.db import migrate  # noqa: E402
from bot.db.session import make_engine, make_sessionmaker  # noqa: E402
from bot.demo.kube.apiserver import FakeKubeApiServer  # noqa: E402
from bot.domain.clock import ManualClock  # noqa: E402
from bot.environments.watch import AtRest  # noqa: E402
from tests.reconcile_world import World, world  # noqa: E402


class RemoteFake:
    """The fake API server in a child process: its kubeconfig and its request counts."""

    def __init__(self, tmp: Path, service_s: float) -> None:
        self.kubeconfig = tmp / "kubeconfig"
        self._child = subprocess.Popen(  # noqa: S603 - this script, run by this interpreter
            [sys.executable, __file__, "--serve-fake", str(self.kubeconfig), str(service_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if self._ask("ready") != "ready":
            raise SystemExit("the fake API server's child process did not start")

    def _ask(self, command: str) -> str:
        stdin, stdout = self._child.stdin, self._child.stdout
        if stdin is None or stdout is None:
            raise RuntimeError("the child was started without pipes")
        if command != "ready":
            stdin.write(command + "\n")
            stdin.flush()
        return stdout.readline().strip()

    def counts(self) -> dict[str, float]:
        """Since the last `clear`: requests, `lists` (GETs with a label selector) and `other`,
        and the server's CPU milliseconds (`cpu_ms`)."""
        return dict(json.loads(self._ask("counts")))

    def clear(self) -> None:
        self._ask("clear")

    def close(self) -> None:
        if self._child.stdin is not None:
            self._child.stdin.close()
        self._child.wait(10)


def serve_fake(kubeconfig: str, service_s: float) -> None:
    """The child: serve the fake until stdin closes; answer `counts` and `clear` on it."""
    with FakeKubeApiServer() as fake:
        fake.set_service_time(service_s, schema_validation=False)
        fake.write_kubeconfig(Path(kubeconfig), "mgmt", ["shared-dev"])
        print("ready", flush=True)
        cpu = time.process_time()
        for line in sys.stdin:
            requests = [r for r in fake.requests if not r.path.startswith(("/healthz", "/version"))]
            if line.strip() == "counts":
                lists = sum(1 for r in requests if r.method == "GET" and r.param("labelSelector"))
                other, used = len(requests) - lists, time.process_time() - cpu
                print(
                    json.dumps({"lists": lists, "other": other, "cpu_ms": used * 1000}), flush=True
                )
            elif line.strip() == "clear":
                fake.clear_requests()
                cpu = time.process_time()
                print("ok", flush=True)


@dataclass
class Run:
    """What one world measured."""

    n: int
    create_pass_s: float
    pass_returned_s: float
    client_cpu_s: float  # this process, every thread, during the create pass
    server_cpu_s: float  # the fake API server's process, during the create pass
    create_requests: int
    observe_requests: int
    idle_loaded: int


@contextlib.contextmanager
def _world(
    tmp: Path, template: Path, remote: RemoteFake, concurrency: int, prefix: str
) -> Iterator[World]:
    """A fresh database (a copy of the migrated `template`) on the shared API server."""
    db = tmp / f"{prefix}.db"
    shutil.copyfile(template, db)
    engine = make_engine(f"sqlite:///{db}")
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    try:
        with world(
            make_sessionmaker(engine),
            clock,
            tmp,
            concurrency=concurrency,
            kubeconfig=remote.kubeconfig,
            prefix=prefix,
        ) as w:
            yield w
    finally:
        engine.dispose()


def measure(w: World, remote: RemoteFake, n: int, *, full_every_pass: bool = False) -> Run:
    """Create N environments, time the create pass, make them READY, then one idle pass."""
    if full_every_pass:
        w.reconciler.at_rest = AtRest(full_pass=timedelta(0))
    w.add(n)
    w.clients.cluster("shared-dev")  # the client is built once per process, not per pass
    remote.clear()
    start, cpu = time.perf_counter(), time.process_time()
    w.reconciler.reconcile()
    returned = time.perf_counter() - start
    w.reconciler.settle()
    create_pass = time.perf_counter() - start
    client_cpu = time.process_time() - cpu
    made = remote.counts()
    for _ in range(5):
        w.clock.set(w.clock.now() + timedelta(seconds=15))
        w.tick()
        if set(w.states()) == {"READY"}:
            break
    if set(w.states()) != {"READY"}:
        raise SystemExit(f"not all READY after five passes: {w.states()}")
    w.clock.set(w.clock.now() + timedelta(seconds=15))
    w.tick()  # one at rest, then the measured one
    remote.clear()
    w.clock.set(w.clock.now() + timedelta(seconds=15))
    with w.loads.measuring() as loaded:
        w.tick()
    idle = remote.counts()
    return Run(
        n,
        create_pass,
        returned,
        client_cpu,
        made["cpu_ms"] / 1000,
        int(made["other"]),
        int(idle["lists"] + idle["other"]),
        loaded.count,
    )


def measure_all(n: int, n_small: int, concurrency: int, service_s: float) -> tuple[Run, Run, Run]:
    """The small N, the N, and the N's baseline, in that order, on one API server (each
    world its own database and names)."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        template = tmp / "migrated.db"
        migrate.upgrade(f"sqlite:///{template}")
        remote = RemoteFake(tmp, service_s)
        try:
            with _world(tmp, template, remote, concurrency, "small") as w:
                small = measure(w, remote, n_small)
            with _world(tmp, template, remote, concurrency, "new") as w:
                new = measure(w, remote, n)
            with _world(tmp, template, remote, 0, "old") as w:
                old = measure(w, remote, n, full_every_pass=True)
        finally:
            remote.close()
    return small, new, old


def main() -> None:
    """Print the figures as `name value unit` lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument(
        "--n-small", type=int, default=50, help="the second N of the flatness figures"
    )
    parser.add_argument("--service-ms", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--small", action="store_true", help="N=12 and 4: the CI smoke run")
    parser.add_argument(
        "--serve-fake", nargs=2, metavar=("KUBECONFIG", "SERVICE_S"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake(args.serve_fake[0], float(args.serve_fake[1]))
        return
    logging.basicConfig(level=logging.CRITICAL)
    n, n_small = (12, 4) if args.small else (args.n, args.n_small)
    service_s = args.service_ms / 1000
    small, new, old = measure_all(n, n_small, args.concurrency, service_s)
    per_env = new.create_requests / n
    ideal = n * per_env * service_s / args.concurrency
    lines = [
        ("n", n, "environments"),
        ("service_time", args.service_ms, "ms"),
        ("concurrency", args.concurrency, "calls"),
        ("requests_per_env", round(per_env, 2), "requests"),
        ("ideal_s", round(ideal, 3), "s"),
        ("create_pass_s", round(new.create_pass_s, 3), "s"),
        ("ratio", round(new.create_pass_s / ideal, 3), "ratio"),
        ("pass_returned_s", round(new.pass_returned_s, 3), "s"),
        ("create_pass_client_cpu_s", round(new.client_cpu_s, 3), "s"),
        ("create_pass_server_cpu_s", round(new.server_cpu_s, 3), "s"),
        ("create_pass_s_sequential_baseline", round(old.create_pass_s, 3), "s"),
        ("sequential_ideal_s", round(ideal * args.concurrency, 3), "s"),
        ("sequential_ratio", round(old.create_pass_s / (ideal * args.concurrency), 3), "ratio"),
        ("speedup", round(old.create_pass_s / new.create_pass_s, 2), "ratio"),
        ("pass_returned_s_sequential_baseline", round(old.pass_returned_s, 3), "s"),
        (f"requests_per_observe_pass_{n_small}", small.observe_requests, "requests"),
        (f"requests_per_observe_pass_{n}", new.observe_requests, "requests"),
        (f"rows_loaded_per_idle_pass_{n_small}", small.idle_loaded, "rows"),
        (f"rows_loaded_per_idle_pass_{n}", new.idle_loaded, "rows"),
        (f"rows_loaded_per_idle_pass_{n}_full_pass_baseline", old.idle_loaded, "rows"),
        ("loadavg_1m", round(os.getloadavg()[0], 2), "load"),
    ]
    sys.stdout.write("".join(f"{name} {value} {unit}\n" for name, value, unit in lines))


if __name__ == "__main__":
    main()
