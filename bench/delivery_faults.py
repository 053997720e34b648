"""The delivery fault matrix at a larger N: flows (a card, a thread reply, a DM and a private
answer each) drained against the fake Slack while a share of its answers fail (429, 500, a
connection dropped before or after Slack took the call, response_url 500s), on SQLite with a
manual clock. Prints `name value unit` lines: lost and doubled channel/thread/DM posts, lost
private answers, rows sent and parked, faults injected, simulated and wall seconds.

    .venv/bin/python bench/delivery_faults.py --flows 200 --rate 0.2 --seed 1
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from datetime import UTC, datetime

from bot.db import migrate
from bot.db.session import make_engine, make_sessionmaker
from bot.demo.delivery_faults import run_matrix
from bot.demo.fake_slack import FakeSlack
from bot.domain.clock import ManualClock


def main() -> None:
    """Run the matrix once and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=200)
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # parked rows would log; the figures say it
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate.upgrade(url)
        engine = make_engine(url)
        clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        with FakeSlack(now=clock.now) as fake:
            figures = run_matrix(
                make_sessionmaker(engine),
                fake,
                clock,
                flows=args.flows,
                rate=args.rate,
                seed=args.seed,
                max_steps=20_000,
            )
        engine.dispose()
    lines = [
        ("flows", figures.flows, "flows"),
        ("fault_rate", args.rate, "ratio"),
        ("faults", figures.faults, "calls"),
        ("lost", figures.lost, "messages"),
        ("doubled", figures.doubled, "messages"),
        ("answers_lost", figures.answers_lost, "answers"),
        ("sent", figures.sent, "messages"),
        ("parked", figures.parked, "messages"),
        ("simulated", round(figures.simulated_s), "s"),
        ("elapsed", round(figures.elapsed_s, 2), "s"),
    ]
    sys.stdout.write("".join(f"{name} {value} {unit}\n" for name, value, unit in lines))


if __name__ == "__main__":
    main()
