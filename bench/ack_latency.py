"""Time from a signed Slack request to envbot's HTTP answer (the ack), over loopback.

Slack gives an app 3 s to acknowledge. A slash command's answer rides in the ack when it is
ready within 2 s (`handlers/answers.py`); a slower one is acked empty at 2 s and answered through
the outbox, so the ack never costs more than about 2 s. This serves the real app with waitress
(as `envbot serve` does) on SQLite, sends N signed slash commands of each kind one after
another with a real HTTP client, and prints percentiles of the round trip.

    .venv/bin/python bench/ack_latency.py --requests 200
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

from bot.db import migrate
from bot.demo.fake_slack import FakeSlack
from bot.demo.signing import sign, slash_body
from bot.domain.clock import ManualClock
from bot.policy import load_policy
from bot.server import HttpServer, make_wsgi_app
from bot.slack.directory import SlackDirectory
from bot.wiring import build_runtime
from provisioning.fake import FakeAccessBackend, FakeEnvironmentBackend

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret"  # noqa: S105 - signs the benchmark's own requests
COMMANDS = [
    ("/env", "help"),
    ("/env", "list --all"),
    ("/access", "list"),
    ("/env", "create nosuchtemplate"),
]


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per command")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as tmp, FakeSlack(now=clock.now) as slack:
        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        client = slack.web_client()
        fake_env = FakeEnvironmentBackend(clock)
        fake_access = FakeAccessBackend()
        runtime = build_runtime(
            policy=load_policy(ROOT / "examples" / "policy.yaml"),
            database_url=url,
            client=client,
            directory=SlackDirectory(client),
            signing_secret=SECRET,
            clock=clock,
            env_backends={"fake": fake_env, "capi": fake_env, "namespace": fake_env},
            access_backends={"fake": fake_access, "kommander": fake_access, "rbac": fake_access},
        )
        server = HttpServer(make_wsgi_app(runtime.app), "127.0.0.1", 0).start()
        channel = slack.channel_id("platform")
        http = requests.Session()
        try:
            print(
                f"{'command':28} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"
            )
            for command, text in COMMANDS:
                samples = []
                for _ in range(args.requests):
                    body = slash_body(
                        command,
                        text,
                        user_id="U0ALICE",
                        user_name="alice",
                        channel_id=channel,
                        response_url=slack.new_response_url(channel, "U0ALICE"),
                        trigger_id=slack.new_trigger_id("U0ALICE"),
                    )
                    started = time.perf_counter()
                    resp = http.post(
                        f"{server.url}/slack/events",
                        data=body,
                        headers=sign(SECRET, body),
                        timeout=10,
                    )
                    samples.append((time.perf_counter() - started) * 1000)
                    if resp.status_code != 200:
                        sys.exit(f"{command} {text}: HTTP {resp.status_code}")
                q = statistics.quantiles(samples, n=100)
                print(
                    f"{command + ' ' + text:28} {len(samples):>5} {q[49]:>8.1f} {q[94]:>8.1f} "
                    f"{q[98]:>8.1f} {max(samples):>8.1f}"
                )
        finally:
            server.stop()
            runtime.leader.close()
            runtime.engine.dispose()


if __name__ == "__main__":
    main()
