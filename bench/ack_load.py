"""P1, ack under load: 200 concurrent signed commands, envbot next to two Bolt apps, one run.

Three apps are served one after another by the same waitress server with the same settings
(`bot.server.HttpServer`: 16 threads, 256 connections), and each gets N signed requests at once
from a separate client process (so the clients do not share the server's GIL):

- `bare`: a Bolt app whose listener only calls `ack()` (`process_before_response=True`): the
  floor for a Bolt app on this server.
- `envbot`: the real `envbot serve` app and its jobs, with every backend blocking 5 s: the Slack
  directory (`users.info`, user groups) and the environment and access backends.
- `hand`: a hand-written Bolt app with Bolt's default 5 listener threads whose listener does
  its 5 s of work after `ack()`, as Bolt's documentation shows.

The requests are `/env create` (or, with `--mix`, also `/env list`, a full `/access request`
and an Approve click). Server-side time is measured inside the WSGI app (from the call to the
body), client-side time is the round trip (it includes waiting for a waitress thread). Prints
`name value unit` lines: p50, p99, max, over_3s and failed per app, and the ratio envbot/bare.

    .venv/bin/python bench/ack_load.py                       # SQLite, 200 requests
    .venv/bin/python bench/ack_load.py --pg-url "$PG_URL"    # and PostgreSQL
    .venv/bin/python bench/ack_load.py --requests 10 --block 0.2   # the CI smoke run
    .venv/bin/python bench/ack_load.py --no-hand   # bare and envbot only: quicker repeated runs
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests
from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.db import migrate
from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_workspace import TEAM_ID
from bot.demo.signing import sign, slash_body
from bot.domain.clock import SystemClock
from bot.heap import freeze_startup_heap
from bot.policy import load_policy
from bot.server import HttpServer, make_wsgi_app
from bot.settings import DEFAULT_ACK_COMMIT, AckCommit
from bot.slack.directory import SlackDirectory
from bot.slack.ports import Directory, UserInfo
from bot.wiring import build_runtime
from provisioning.fake import FakeAccessBackend, FakeEnvironmentBackend

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-ack-load-secret"  # noqa: S105 - signs the benchmark's own requests
SLACK_DEADLINE = 3.0
Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Blocking:
    """Makes each call of an object block `seconds` first (until `stop` is set)."""

    def __init__(self, inner: Any, seconds: float, stop: threading.Event) -> None:
        self._inner, self._seconds, self._stop = inner, seconds, stop

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self._stop.wait(self._seconds)
            return attr(*args, **kwargs)

        return call


class SlowDirectory(Directory):
    """The Slack directory with every lookup blocking (a slow or rate-limited Slack)."""

    def __init__(self, inner: Directory, seconds: float, stop: threading.Event) -> None:
        self._inner, self._seconds, self._stop = inner, seconds, stop

    def user(self, user_id: str) -> UserInfo:
        self._stop.wait(self._seconds)
        return self._inner.user(user_id)

    def members(self, principals: Any) -> frozenset[str]:
        self._stop.wait(self._seconds)
        return self._inner.members(principals)

    def posts_in(self, channel_id: str) -> bool:
        self._stop.wait(self._seconds)
        return self._inner.posts_in(channel_id)


def timed(app: Wsgi, samples: list[float]) -> Wsgi:
    """The app, recording each call's time from the call to its body (server side)."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        body = list(app(environ, start_response))
        samples.append(time.perf_counter() - started)
        return body

    return wsgi


# -- the three apps ----------------------------------------------------------------------


def bare_app(client: Any) -> Wsgi:
    app = App(
        signing_secret=SECRET,
        client=client,  # the fake Slack: Bolt asks auth.test once
        token_verification_enabled=False,
        process_before_response=True,
        name="bare",
    )

    @app.command("/env")
    @app.command("/access")
    def only_ack(ack: Ack) -> None:
        ack()

    @app.action("approve")
    def click(ack: Ack) -> None:
        ack()

    return SlackRequestHandler(app)


def hand_app(client: Any, block: float, stop: threading.Event) -> Wsgi:
    app = App(
        signing_secret=SECRET,
        client=client,
        token_verification_enabled=False,
        name="hand",
    )

    @app.command("/env")
    @app.command("/access")
    def work_after_ack(ack: Ack) -> None:
        ack()
        stop.wait(block)  # the command's work: a slow backend

    @app.action("approve")
    def click(ack: Ack) -> None:
        ack()
        stop.wait(block)

    return SlackRequestHandler(app)


@contextmanager
def envbot_app(
    url: str,
    slack: FakeSlack,
    block: float,
    stop: threading.Event,
    ack_commit: AckCommit,
    journal: Path | None = None,
) -> Iterator[Wsgi]:
    migrate.upgrade(url)
    clock = SystemClock()
    client = slack.web_client()
    env = Blocking(FakeEnvironmentBackend(clock), block, stop)
    access = Blocking(FakeAccessBackend(), block, stop)
    runtime = build_runtime(
        policy=load_policy(ROOT / "examples" / "policy.yaml"),
        database_url=url,
        client=client,
        directory=SlowDirectory(SlackDirectory(client, ttl=0), block, stop),
        signing_secret=SECRET,
        clock=clock,
        team_id=TEAM_ID,
        env_backends={"fake": env, "capi": env, "namespace": env},
        access_backends={"fake": access, "kommander": access, "rbac": access},
        ack_commit=ack_commit,
        ack_journal=journal,
    )
    freeze_startup_heap()  # as `envbot serve` does once start-up is done
    scheduler = runtime.jobs.start_background()  # as `envbot serve` runs them
    runtime.jobs.start_waking()
    try:
        yield make_wsgi_app(runtime.app)
    finally:
        stop.set()  # every blocked call returns at once
        scheduler.shutdown(wait=True)
        runtime.close(timeout=30)


# -- requests ----------------------------------------------------------------------------


def bodies(slack: FakeSlack, n: int, mix: bool) -> list[str]:
    """N signed-able bodies: `/env create`, or a mix of commands and clicks."""
    alice = slack.user_id("alice")
    channel = slack.channel_id("platform")
    kinds = ["create", "list", "request", "click"] if mix else ["create"]
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        trigger = f"{uuid.uuid4().hex[:12]}.{i}"
        if kind == "click":
            payload = {
                "type": "block_actions",
                "team": {"id": TEAM_ID},
                "user": {"id": alice, "name": "alice"},
                "trigger_id": trigger,
                "response_url": slack.new_response_url(channel, alice),
                "channel": {"id": channel},
                "container": {"type": "message", "channel_id": channel, "message_ts": "1.1"},
                "actions": [
                    {
                        "action_id": "approve",
                        "block_id": "env_actions",
                        "value": "env:e0nosuch",
                        "action_ts": f"{time.time():.6f}{i}",
                    }
                ],
            }
            out.append(urlencode({"payload": json.dumps(payload)}))
            continue
        command, text = {
            "create": ("/env", f"create sandbox b{i} --reason load"),
            "list": ("/env", "list"),
            "request": ("/access", 'request sandbox view 1h "load test"'),
        }[kind]
        out.append(
            slash_body(
                command,
                text,
                user_id=alice,
                user_name="alice",
                channel_id=channel,
                response_url=slack.new_response_url(channel, alice),
                trigger_id=trigger,
                team_id=TEAM_ID,
            )
        )
    return out


def _client(url: str, payloads: list[str], results: Any) -> None:
    """The load: one thread per request, released together (runs in its own process)."""
    gate = threading.Barrier(len(payloads))
    out: list[tuple[int, float]] = [(0, 0.0)] * len(payloads)

    def one(i: int) -> None:
        headers = sign(SECRET, payloads[i])
        gate.wait()
        started = time.perf_counter()
        try:
            status = requests.post(url, data=payloads[i].encode(), headers=headers, timeout=15)
            out[i] = (status.status_code, time.perf_counter() - started)
        except requests.RequestException:
            out[i] = (0, time.perf_counter() - started)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(payloads))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put(out)


def load(url: str, payloads: list[str]) -> list[tuple[int, float]]:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=_client, args=(url, payloads, results))
    proc.start()
    got: list[tuple[int, float]] = results.get(timeout=300)
    proc.join(timeout=30)
    return got


def measure(name: str, wsgi: Wsgi, payloads: list[str], warm: list[str]) -> dict[str, float]:
    """Serve `wsgi`, warm it up with a few requests, then send `payloads` at once."""
    server_side: list[float] = []
    server = HttpServer(timed(wsgi, server_side), "127.0.0.1", 0).start()
    url = f"{server.url}/slack/events"
    try:
        for body in warm:
            requests.post(url, data=body.encode(), headers=sign(SECRET, body), timeout=15)
        server_side.clear()
        client = load(url, payloads)
    finally:
        server.stop()
    figures = {
        "server_p50": _pct(server_side, 50),
        "server_p99": _pct(server_side, 99),
        "server_max": max(server_side, default=0.0),
        "client_p50": _pct([t for _, t in client], 50),
        "client_p99": _pct([t for _, t in client], 99),
        "client_max": max((t for _, t in client), default=0.0),
        "over_3s": sum(1 for status, t in client if status == 200 and t > SLACK_DEADLINE),
        "failed": sum(1 for status, _ in client if status != 200),
    }
    for key, value in figures.items():
        unit = "count" if key in ("over_3s", "failed") else "ms"
        shown = value if unit == "count" else value * 1000
        print(
            f"{name}_{key} {shown:.1f} {unit}" if unit == "ms" else f"{name}_{key} {value} {unit}"
        )
    return figures


def _pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def run(db: str, url: str, args: argparse.Namespace) -> None:
    with FakeSlack(now=lambda: datetime.now(UTC)) as slack:
        payloads = bodies(slack, args.requests, args.mix)
        warm = bodies(slack, 3, args.mix)
        bare = measure(f"{db}_bare", bare_app(slack.web_client()), payloads, warm)
        stop = threading.Event()
        with envbot_app(url, slack, args.block, stop, args.ack_commit) as app:
            envbot = measure(f"{db}_envbot", app, payloads, warm)
        if args.journal:  # the same run: envbot with ENVBOT_ACK_JOURNAL, fresh keys
            stop = threading.Event()
            fresh = bodies(slack, args.requests, args.mix)
            with (
                tempfile.TemporaryDirectory() as tmp,
                envbot_app(url, slack, args.block, stop, args.ack_commit, Path(tmp) / "j") as app,
            ):
                journal = measure(f"{db}_journal", app, fresh, bodies(slack, 3, args.mix))
            ratio = journal["server_p99"] / bare["server_p99"] if bare["server_p99"] else 0.0
            print(f"{db}_ratio_server_p99_journal_over_bare {ratio:.2f} x")
            if envbot["server_p99"]:
                ratio = journal["server_p99"] / envbot["server_p99"]
                print(f"{db}_ratio_server_p99_journal_over_envbot {ratio:.2f} x")
        if not args.no_hand:
            stop = threading.Event()
            measure(f"{db}_hand", hand_app(slack.web_client(), args.block, stop), payloads, warm)
            stop.set()
    ratio = envbot["server_p99"] / bare["server_p99"] if bare["server_p99"] else 0.0
    print(f"{db}_ratio_server_p99_envbot_over_bare {ratio:.2f} x")
    client = envbot["client_p99"] / bare["client_p99"] if bare["client_p99"] else 0.0
    print(f"{db}_ratio_client_p99_envbot_over_bare {client:.2f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="sent at once, per app")
    parser.add_argument("--block", type=float, default=5.0, help="seconds each backend call blocks")
    parser.add_argument("--mix", action="store_true", help="commands and clicks, not only creates")
    parser.add_argument("--pg-url", help="also run envbot on this (empty) PostgreSQL database")
    parser.add_argument(
        "--ack-commit",
        choices=["fast", "durable"],
        default=DEFAULT_ACK_COMMIT,
        help="ENVBOT_DATABASE__ACK_COMMIT: the ack's commit on PostgreSQL",
    )
    parser.add_argument(
        "--journal", action="store_true", help="also run envbot with ENVBOT_ACK_JOURNAL"
    )
    parser.add_argument("--only-pg", action="store_true", help="with --pg-url: skip SQLite")
    parser.add_argument(
        "--no-hand", action="store_true", help="skip the hand-written app (quicker A/B runs)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    print(f"requests {args.requests} count")
    print(f"backend_block {args.block} s")
    if not (args.only_pg and args.pg_url):
        with tempfile.TemporaryDirectory() as tmp:
            run("sqlite", f"sqlite:///{tmp}/bench.db", args)
    if args.pg_url:
        run("pg", args.pg_url, args)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
