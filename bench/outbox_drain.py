"""Outbox drain throughput on SQLite against the fake Slack, with a manual clock.

Queues N messages across M channels at one instant, then drains once per virtual second until
all are sent. Prints messages per second of wall time (the drain's own cost: DB + HTTP to
the loopback fake) and the virtual seconds the per-channel pacing took (about N / M).

    .venv/bin/python bench/outbox_drain.py --messages 2000 --channels 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from bot.db import migrate
from bot.db.session import make_engine, make_sessionmaker
from bot.demo.fake_slack import FakeSlack
from bot.domain.clock import ManualClock
from bot.slack.blocks import text_message
from bot.slack.delivery import OutboxDrain
from bot.slack.notify import Notifier


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        with FakeSlack(now=clock.now) as fake:
            names = [f"bench-{i}" for i in range(args.channels)]
            for name in names:
                fake.add_channel(name)
            notifier = Notifier()
            with sessions.begin() as s:
                for i in range(args.messages):
                    notifier.card(
                        s,
                        now=clock.now(),
                        obj=("env", f"b{i}"),
                        channel=f"#{names[i % len(names)]}",
                        message=text_message(f"message {i}"),
                    )
            drain = OutboxDrain(
                sessions, fake.web_client(retry_handlers=[]), clock, batch=args.batch
            )
            start_virtual = clock.now()
            sent = drains = 0
            started = time.perf_counter()
            while sent < args.messages:
                sent += drain.drain()
                drains += 1
                if sent < args.messages:
                    clock.advance(timedelta(seconds=1))
            wall = time.perf_counter() - started
            calls = len(fake.calls_to("chat.postMessage"))
        engine.dispose()
    virtual = (clock.now() - start_virtual).total_seconds()
    sys.stdout.write(
        f"messages={args.messages} channels={args.channels} batch={args.batch}\n"
        f"sent={sent} chat.postMessage calls={calls} drains={drains}\n"
        f"wall={wall:.2f}s  throughput={sent / wall:.0f} messages/s of wall time "
        f"({wall / drains * 1000:.1f} ms per drain)\n"
        f"virtual={virtual:.0f}s "
        f"(pacing floor {args.messages / args.channels - 1:.0f}s at 1/s/channel)\n"
    )


if __name__ == "__main__":
    main()
