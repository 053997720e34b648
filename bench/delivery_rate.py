"""P3: outbox delivery in real time against the fake Slack's rate limiter, next to its floor.

Queues N posts over M channels (and then N DMs to N users, by user id), and drains them as
production does (worker threads, lingering until the next channel frees) against the fake
Slack with its limiter on: chat.postMessage 1 per second per conversation with a small burst,
and a workspace-wide limit, 429 + Retry-After beyond. The floor is the least time those limits
allow (every bucket starts full). Counts what Slack holds: lost and duplicated messages.
Prints `name value unit` lines.

    .venv/bin/python bench/delivery_rate.py                 # 1,000 posts over 50 channels
    .venv/bin/python bench/delivery_rate.py --small         # the CI smoke run
"""

from __future__ import annotations

import argparse
import itertools
import logging
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from multiprocessing.connection import Connection
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db import migrate
from bot.db.models import OutboxMessage
from bot.db.session import make_engine, make_sessionmaker
from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_limits import RateLimits
from bot.domain.clock import SystemClock
from bot.slack.blocks import text_message
from bot.slack.delivery import OutboxDrain
from bot.slack.notify import Notifier
from bot.slack.recover import EVENT_TYPE


def main() -> None:
    """Run both rounds and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--dms", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=2, help="per-conversation burst")
    parser.add_argument("--workspace-rate", type=float, default=100.0, help="posts/s")
    parser.add_argument("--workspace-burst", type=int, default=10)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--small", action="store_true", help="smoke run: 20 posts, 10 DMs")
    args = parser.parse_args()
    if args.small:
        args.messages, args.channels, args.dms = 20, 10, 10
    logging.basicConfig(level=logging.CRITICAL)
    limits = RateLimits(1.0, args.burst, args.workspace_rate, args.workspace_burst)
    names = [f"bench-{i}" for i in range(args.channels)]
    users = [f"user{i}" for i in range(args.dms)]
    # Slack is not in envbot's process: the fake runs in its own, so its CPU is not the drain's
    # (forked before any thread or connection exists here, so it imports nothing again)
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe()
    server = context.Process(target=serve_fake, args=(child, limits, names, users), daemon=True)
    server.start()
    try:
        fake = RemoteFake(parent)
        lines = _rounds(args, limits, fake, names)
        fake.ask("stop")
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
    sys.stdout.write("".join(f"{name} {value} {unit}\n" for name, value, unit in lines))


def _rounds(
    args: argparse.Namespace, limits: RateLimits, fake: RemoteFake, names: list[str]
) -> list[tuple[str, float, str]]:
    lines: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        clock = SystemClock()

        def drain() -> OutboxDrain:
            return OutboxDrain(
                sessions,
                WebClient(base_url=fake.api_url, token=fake.token, retry_handlers=[]),
                clock,
                workers=args.workers,
                linger=timedelta(seconds=2),
                workspace_rate=args.workspace_rate,
                # half the workspace burst: latency jitter bunches the arrivals at Slack
                workspace_burst=max(1, args.workspace_burst // 2),
            )

        notifier = Notifier()
        with sessions.begin() as s:
            for i in range(args.messages):
                channel = f"#{names[i % len(names)]}"
                message = text_message(f"message {i}")
                notifier.card(
                    s, now=clock.now(), obj=("env", f"b{i}"), channel=channel, message=message
                )
        per_channel = list(Counter(i % args.channels for i in range(args.messages)).values())
        wall, cpu = _timed(drain(), sessions)
        lost, doubled, posts, opens, refused = fake.ask("tally", "channels", args.messages)
        floor = limits.floor(per_channel)
        lines += [
            ("posts", args.messages, "messages"),
            ("channels", args.channels, "channels"),
            ("floor", round(floor, 2), "s"),
            ("floor_1_per_s_no_burst", max(per_channel) - 1, "s"),
            ("measured", round(wall, 2), "s"),
            ("ratio", round(wall / floor, 3) if floor else 0, "x"),
            ("drain_cpu", round(cpu, 2), "s"),
            ("lost", lost, "messages"),
            ("duplicated", doubled, "messages"),
            ("rate_limited", posts - args.messages, "calls"),
            ("rate_limited_by_channel", refused.get("channel", 0), "calls"),
            ("rate_limited_by_workspace", refused.get("workspace", 0), "calls"),
            ("first_posts_spread", refused["spread"], "s"),
            ("mean_gap_in_channel", refused["gap"], "s"),
        ]

        user_ids = fake.ask("user_ids")
        with sessions.begin() as s:
            for i, user in enumerate(user_ids):
                notifier.dm(
                    s, now=clock.now(), user_id=user, key=f"k{i}", message=text_message(f"dm {i}")
                )
        wall, dm_cpu = _timed(drain(), sessions)
        lost, doubled, posts, opens, refused_total = fake.ask("tally", "dms", args.dms)
        floor = limits.floor([1] * args.dms)
        lines += [
            ("dms", args.dms, "messages"),
            ("dm_floor", round(floor, 2), "s"),
            ("dm_time", round(wall, 2), "s"),
            ("dm_ratio", round(wall / floor, 3) if floor else 0, "x"),
            ("dm_drain_cpu", round(dm_cpu, 2), "s"),
            ("dm_lost", lost, "messages"),
            ("dm_duplicated", doubled, "messages"),
            ("dm_conversations_open", opens, "calls"),
            ("dm_rate_limited", posts - args.dms, "calls"),
            (
                "dm_rate_limited_by_workspace",
                refused_total.get("workspace", 0) - refused.get("workspace", 0),
                "calls",
            ),
        ]
        engine.dispose()
    return lines


class RemoteFake:
    """The bench's end of the pipe to the fake Slack's process."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.api_url, self.token = conn.recv()

    def ask(self, *request: Any) -> Any:
        """Send a request, return the answer."""
        self._conn.send(request)
        return self._conn.recv()


def serve_fake(conn: Connection, limits: RateLimits, names: list[str], users: list[str]) -> None:
    """The fake Slack's process: serve on loopback, answer the bench's questions."""
    logging.basicConfig(level=logging.CRITICAL)
    with FakeSlack(now=SystemClock().now, rate_limits=limits) as fake:
        for name in names:
            fake.add_channel(name)
        ids = [fake.add_user(user).id for user in users]
        conn.send((fake.api_url, fake.token))
        while True:
            request = conn.recv()
            if request[0] == "stop":
                conn.send(None)
                return
            if request[0] == "user_ids":
                conn.send(ids)
                continue
            _, which, expected = request
            where = (
                [fake.channel_id(n) for n in names]
                if which == "channels"
                else [fake.dm_channel_id(u) for u in ids]
            )
            lost, doubled = _tally(fake, where, expected)
            posts = len(fake.calls_to("chat.postMessage"))
            opens = len(fake.calls_to("conversations.open"))
            fake.clear_calls()
            refused: dict[str, float] = dict(fake.limiter.refused) if fake.limiter else {}
            refused["spread"], refused["gap"] = _pacing(fake, where)
            conn.send((lost, doubled, posts, opens, refused))


def _timed(drain: OutboxDrain, sessions: sessionmaker[Session]) -> tuple[float, float]:
    """Drain until nothing is pending (as the scheduler would call it again): wall seconds,
    and CPU seconds of this process (the fake Slack runs in another)."""
    started, cpu = time.perf_counter(), time.process_time()
    while _open(sessions):
        drain.drain()
    return time.perf_counter() - started, time.process_time() - cpu


def _open(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        query = select(func.count()).select_from(OutboxMessage)
        return int(s.scalar(query.where(OutboxMessage.status.in_(("pending", "sending")))) or 0)


def _tally(fake: FakeSlack, conversations: list[str], expected: int) -> tuple[int, int]:
    """(lost, duplicated): outbox keys Slack does not hold, and extra copies it holds."""
    keys: Counter[str] = Counter()
    key_of: Callable[[dict[str, object] | None], str] = _key
    for conversation in conversations:
        for message in fake.history(conversation):
            if key := key_of(message.metadata):
                keys[key] += 1
    return expected - len(keys), sum(n - 1 for n in keys.values())


def _pacing(fake: FakeSlack, conversations: list[str]) -> tuple[float, float]:
    """(seconds from the first conversation's first message to the last one's first, mean
    seconds between two messages in one conversation), from the messages' ts."""
    firsts, gaps = [], []
    for conversation in conversations:
        stamps = sorted(float(m.ts) for m in fake.history(conversation))
        if stamps:
            firsts.append(stamps[0])
            gaps += [b - a for a, b in itertools.pairwise(stamps)]
    spread = max(firsts) - min(firsts) if firsts else 0.0
    return round(spread, 3), round(sum(gaps) / len(gaps), 3) if gaps else 0.0


def _key(metadata: dict[str, object] | None) -> str:
    if not metadata or metadata.get("event_type") != EVENT_TYPE:
        return ""
    payload = metadata.get("event_payload")
    return str(payload.get("key", "")) if isinstance(payload, dict) else ""


if __name__ == "__main__":
    main()
