"""The Kubernetes fault matrix at a larger N: namespace environments, cluster environments and
rbac grants created, made ready, deleted and revoked over signed HTTP while the fake API server
fails a share of its requests (409 Conflicts, 500s and timeouts, before or after applying the
write), on SQLite with a manual clock. Prints `name value unit` lines: flows lost and failed,
doubled posts, outbox rows open and parked, foreign objects touched, objects left behind, faults
injected (by kind), API requests, simulated and wall seconds.

    .venv/bin/python bench/kube_faults.py --n 10 --rate 0.2 --seed 1
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.kube_fault_matrix

from bot.db import migrate  # noqa: E402
from bot.db.session import make_engine, make_sessionmaker  # noqa: E402
from bot.demo.fake_slack import FakeSlack  # noqa: E402
from bot.demo.kube.apiserver import FakeKubeApiServer  # noqa: E402
from bot.domain.clock import ManualClock  # noqa: E402
from bot.policy import load_policy  # noqa: E402
from bot.policy.models import Quota  # noqa: E402
from bot.server import HttpServer, make_wsgi_app  # noqa: E402
from bot.slack.directory import SlackDirectory  # noqa: E402
from bot.wiring import build_runtime  # noqa: E402
from provisioning.kube.client import NAMESPACE, KubeClients  # noqa: E402
from provisioning.registry import build_access_backends, build_environment_backends  # noqa: E402
from tests.kube_fault_matrix import Figures, Matrix, run  # noqa: E402
from tests.scenario.conftest import JOBS, POLICY_PATH, SECRET, SlackClient  # noqa: E402


def _kubeconfig(kube: FakeKubeApiServer, contexts: list[str], path: Path) -> Path:
    return kube.write_kubeconfig(path, "mgmt", contexts)


def measure(n: int, rate: float, seed: int, timeout: float) -> Figures:
    """Build one envbot on the fakes in a temporary directory and run the matrix."""
    example = load_policy(POLICY_PATH)
    sandbox = example.templates["sandbox"].model_copy(update={"quota": Quota()})  # N per user
    policy = example.model_copy(update={"templates": {**example.templates, "sandbox": sandbox}})
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as tmp, FakeSlack(now=clock.now) as slack:
        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        engine = make_engine(url)
        with FakeKubeApiServer() as kube:
            contexts = {name: c.context for name, c in policy.clusters.items()}
            config = _kubeconfig(kube, list(contexts.values()), Path(tmp) / "kubeconfig")
            clients = KubeClients(str(config), "mgmt", contexts, timeout=(1.0, timeout))
            for name in ("sandbox", "team-a"):
                clients.management().create(
                    NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
                )
            client = slack.web_client()
            runtime = build_runtime(
                policy=policy,
                database_url=url,
                client=client,
                directory=SlackDirectory(client, ttl=0),
                signing_secret=SECRET,
                clock=clock,
                env_backends=build_environment_backends(clock, clients),
                access_backends=build_access_backends(clients),
                job_settings=JOBS,
            )
            runtime.jobs.start_waking()
            server = HttpServer(make_wsgi_app(runtime.app), "127.0.0.1", 0).start()
            try:
                http = SlackClient(url=server.url, slack=slack, clock=clock)
                matrix = Matrix(http, runtime, kube, slack, clock, make_sessionmaker(engine))
                return run(matrix, n=n, rate=rate, seed=seed, hold=timeout + 0.05)
            finally:
                server.stop()
                runtime.close()
                clients.close()
                engine.dispose()


def main() -> None:
    """Run the matrix once and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="flows of each kind")
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=0.15, help="client read timeout, s")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # every fault logs a warning; the figures say it
    figures = measure(args.n, args.rate, args.seed, args.timeout)
    lines = [
        ("flows", figures.flows, "flows"),
        ("fault_rate", args.rate, "ratio"),
        ("faults", figures.faults, "requests"),
        *(
            (f"faults_{kind}", count, "requests")
            for kind, count in sorted(figures.injected.items())
        ),
        ("requests", figures.requests, "requests"),
        ("lost", figures.lost, "flows"),
        ("failed", figures.failed, "flows"),
        ("doubled", figures.doubled, "messages"),
        ("unannounced", figures.unannounced, "environments"),
        ("open_rows", figures.open_rows, "messages"),
        ("parked", figures.parked, "messages"),
        ("foreign_touched", figures.foreign_touched, "objects"),
        ("left_behind", figures.left_behind, "objects"),
        ("simulated", round(figures.simulated_s), "s"),
        ("elapsed", round(figures.elapsed_s, 2), "s"),
    ]
    sys.stdout.write("".join(f"{name} {value} {unit}\n" for name, value, unit in lines))
    for line in figures.details:
        sys.stderr.write(f"{line}\n")


if __name__ == "__main__":
    main()
