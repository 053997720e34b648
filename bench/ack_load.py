"""P1, ack under load: 200 concurrent signed commands, envbot next to two Bolt apps, one run.

Each app is served by its own `bot.server.HttpServer` (waitress, 16 threads, 256 connections)
with the same settings, and gets N signed requests at once from Slack's side: a separate process
that serves the fake Slack the apps call and sends the requests (so neither the clients nor the
fake Slack share the server's GIL, as neither does in production):

- `bare`: a Bolt app whose listener only calls `ack()` (`process_before_response=True`): the
  floor for a Bolt app on this server.
- `envbot`: the real `envbot serve` app and its jobs as shipped (acks journaled,
  `ENVBOT_ACK_JOURNAL`), with every backend blocking 5 s: the Slack directory (`users.info`,
  user groups) and the environment and access backends.
- `dbwrite` (`--db-ack`): the same with `ENVBOT_ACK_JOURNAL=off`, each ack's record written to
  the database before the ack.
- `hand`: a hand-written Bolt app with Bolt's default 5 listener threads whose listener does
  its 5 s of work after `ack()`, as Bolt's documentation shows.

The requests are `/env create` (or, with `--mix`, also `/env list`, a full `/access request`
and an Approve click). Server-side time is measured inside the WSGI app (from the call to the
body), client-side time is the round trip (it includes waiting for a waitress thread).

Each envbot app is measured in `--rounds` bursts of N, each right after a burst of N to a bare
app served beside it, and the figures are pooled over the bursts (the p99 of 10 bursts of 200 is
their 20th-slowest request): one burst's p99 is its second-slowest request and swings several-fold
between consecutive bursts of the same app on a 2-core machine. Prints `name value unit` lines:
p50, p99, max, over_3s and failed per app and for its bare baseline, the ratio of the pooled p99s,
and the smallest, median and largest ratio of one burst's p99s.

    .venv/bin/python bench/ack_load.py                       # SQLite, 200 requests
    .venv/bin/python bench/ack_load.py --pg-url "$PG_URL"    # and PostgreSQL
    .venv/bin/python bench/ack_load.py --requests 8 --rounds 2 --block 0.2 --mix --db-ack  # CI
    .venv/bin/python bench/ack_load.py --no-hand   # bare and envbot only: quicker repeated runs
    .venv/bin/python bench/ack_load.py --no-hand --db-ack   # and with the journal off
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
from slack_sdk import WebClient

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

    def group_id(self, handle: str) -> str | None:
        self._stop.wait(self._seconds)
        return self._inner.group_id(handle)


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
    slack: SlackSide,
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


def bodies(slack: FakeSlack, n: int, mix: bool, tag: str = "") -> list[str]:
    """N signed-able bodies: `/env create`, or a mix of commands and clicks (`tag` makes the
    environment names of one burst differ from another's)."""
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
            "create": ("/env", f"create sandbox b{tag}{i} --reason load"),
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


def _burst(url: str, payloads: list[str]) -> list[tuple[int, float]]:
    """One thread per request, released together."""
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
    return out


def _slack_side(jobs: Any, results: Any) -> None:
    """Slack's side, in a process of its own: the fake Slack the apps call, and the load (one
    burst per job until None). The process starts once, not per burst."""
    with FakeSlack(now=lambda: datetime.now(UTC)) as slack:
        results.put((slack.api_url, slack.token))
        while (job := jobs.get()) is not None:
            url, n, mix, tag, warm = job
            payloads = bodies(slack, n, mix, tag)
            if warm:  # one at a time
                for body in payloads:
                    requests.post(url, data=body.encode(), headers=sign(SECRET, body), timeout=15)
                results.put([])
            else:
                results.put(_burst(url, payloads))


class SlackSide:
    """The process that plays Slack: it serves the fake Slack API and sends the requests."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._jobs, self._results = ctx.Queue(), ctx.Queue()
        self._proc = ctx.Process(target=_slack_side, args=(self._jobs, self._results), daemon=True)
        self._proc.start()
        self._api_url, self._token = self._results.get(timeout=120)

    def web_client(self) -> WebClient:
        """A real WebClient pointed at the fake Slack, with its bot token."""
        return WebClient(base_url=self._api_url, token=self._token)

    def burst(self, url: str, n: int, mix: bool, tag: str) -> list[tuple[int, float]]:
        """N requests at once (`bodies`); each one's status and round-trip time."""
        self._jobs.put((url, n, mix, tag, False))
        got: list[tuple[int, float]] = self._results.get(timeout=300)
        return got

    def warm(self, url: str, n: int, mix: bool, tag: str) -> None:
        """N requests one after another (not measured)."""
        self._jobs.put((url, n, mix, tag, True))
        self._results.get(timeout=300)

    def close(self) -> None:
        self._jobs.put(None)
        self._proc.join(timeout=30)


class Served:
    """One app behind its own waitress server; each burst's server and client times pooled."""

    def __init__(self, wsgi: Wsgi, slack: SlackSide, mix: bool) -> None:
        self._slack, self._mix = slack, mix
        self._timed: list[float] = []
        self.server_side: list[float] = []  # pooled over this app's bursts
        self.client: list[tuple[int, float]] = []
        self._server = HttpServer(timed(wsgi, self._timed), "127.0.0.1", 0).start()
        self.url = f"{self._server.url}/slack/events"

    def warm(self, tag: str) -> None:
        self._slack.warm(self.url, 3, self._mix, tag)
        self._timed.clear()

    def burst(self, n: int, tag: str) -> float:
        """Send N requests at once; the burst's own server-side p99."""
        self._timed.clear()
        self.client += self._slack.burst(self.url, n, self._mix, tag)
        self.server_side += self._timed
        return _pct(self._timed, 99)

    def stop(self) -> None:
        self._server.stop()


def report(name: str, app: Served) -> dict[str, float]:
    """Print and return an app's figures over all its bursts."""
    client = [t for _, t in app.client]
    figures = {
        "server_p50": _pct(app.server_side, 50),
        "server_p99": _pct(app.server_side, 99),
        "server_max": max(app.server_side, default=0.0),
        "client_p50": _pct(client, 50),
        "client_p99": _pct(client, 99),
        "client_max": max(client, default=0.0),
        "over_3s": sum(1 for status, t in app.client if status == 200 and t > SLACK_DEADLINE),
        "failed": sum(1 for status, _ in app.client if status != 200),
    }
    for key, value in figures.items():
        if key in ("over_3s", "failed"):
            print(f"{name}_{key} {value} count")
        else:
            print(f"{name}_{key} {value * 1000:.1f} ms")
    return figures


def _pct(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def side_by_side(
    db: str, name: str, wsgi: Wsgi, slack: SlackSide, args: argparse.Namespace
) -> dict[str, float]:
    """`args.rounds` bursts of `wsgi` each right after a burst of a bare app, pooled.

    The bare app gets its own server beside this one's, so both are measured in the same
    minutes of the machine's load: a p99 of one burst of 200 is its second-slowest request and
    moves several-fold from one burst to the next on either app.
    """
    bare = Served(bare_app(slack.web_client()), slack, args.mix)
    app = Served(wsgi, slack, args.mix)
    try:
        bare.warm(f"{name}w")
        app.warm(f"{name}v")
        ratios = []
        for r in range(args.rounds):
            baseline = bare.burst(args.requests, f"{name}{r}x")
            time.sleep(args.pause)
            mine = app.burst(args.requests, f"{name}{r}y")
            time.sleep(args.pause)  # what an app does after a burst is not in the next one
            ratios.append(mine / baseline if baseline else 0.0)
    finally:
        bare.stop()
        app.stop()
    floor = report(f"{db}_{name}_bare", bare)
    figures = report(f"{db}_{name}", app)
    for side in ("server", "client"):
        ratio = figures[f"{side}_p99"] / floor[f"{side}_p99"] if floor[f"{side}_p99"] else 0.0
        print(f"{db}_ratio_{side}_p99_{name}_over_bare {ratio:.2f} x")
    spread = (min(ratios), statistics.median(ratios), max(ratios))
    for label, value in zip(("min", "median", "max"), spread, strict=True):
        print(f"{db}_{name}_burst_ratio_{label} {value:.2f} x")
    return figures


def run(db: str, url: str, args: argparse.Namespace) -> None:
    slack = SlackSide()
    try:
        _apps(db, url, slack, args)
    finally:
        slack.close()


def _apps(db: str, url: str, slack: SlackSide, args: argparse.Namespace) -> None:
    figures: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:  # as shipped: acks journaled (the default)
        stop = threading.Event()
        journal = Path(tmp) / "acks"
        with envbot_app(url, slack, args.block, stop, args.ack_commit, journal) as app:
            figures["envbot"] = side_by_side(db, "envbot", app, slack, args)
    if args.db_ack:  # the same run: ENVBOT_ACK_JOURNAL=off, each ack written to the database
        stop = threading.Event()
        with envbot_app(url, slack, args.block, stop, args.ack_commit) as app:
            figures["dbwrite"] = side_by_side(db, "dbwrite", app, slack, args)
        if figures["dbwrite"]["server_p99"]:
            ratio = figures["envbot"]["server_p99"] / figures["dbwrite"]["server_p99"]
            print(f"{db}_ratio_server_p99_envbot_over_dbwrite {ratio:.2f} x")
    if not args.no_hand:  # one burst: it fails most of its requests for 15 s
        stop = threading.Event()
        hand = Served(hand_app(slack.web_client(), args.block, stop), slack, args.mix)
        try:
            hand.warm("hw")
            hand.burst(args.requests, "h")
        finally:
            stop.set()
            hand.stop()
        report(f"{db}_hand", hand)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="sent at once, per burst")
    parser.add_argument(
        "--rounds", type=int, default=10, help="bursts per app, each after one of the bare app"
    )
    parser.add_argument(
        "--pause", type=float, default=1.0, help="seconds between one burst and the next"
    )
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
        "--db-ack",
        action="store_true",
        help="also run envbot with ENVBOT_ACK_JOURNAL=off (each ack written to the database)",
    )
    parser.add_argument("--only-pg", action="store_true", help="with --pg-url: skip SQLite")
    parser.add_argument(
        "--no-hand", action="store_true", help="skip the hand-written app (quicker A/B runs)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    print(f"requests {args.requests} count")
    print(f"rounds {args.rounds} count")
    print(f"backend_block {args.block} s")
    if not (args.only_pg and args.pg_url):
        with tempfile.TemporaryDirectory() as tmp:
            run("sqlite", f"sqlite:///{tmp}/bench.db", args)
    if args.pg_url:
        run("pg", args.pg_url, args)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
