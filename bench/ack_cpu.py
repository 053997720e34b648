"""P1's cause, measured without the noise of a burst: CPU and Python calls per ack, envbot vs bare.

Under 200 concurrent requests every ack competes for the GIL, so its server-side time grows with
the CPU the other acks and threads hold it for. This calls each app's WSGI callable directly, one
request after another on one thread (no HTTP, no concurrency), and prints per ack: the thread's
CPU time (mean and median, `time.thread_time`) and, in a second pass under `cProfile`, the number
of Python function calls (deterministic: the same code path gives the same count). The apps are
those of `bench/ack_load.py`: **bare**, a Bolt app whose listener only acks; **journal**, the real
envbot app with `ENVBOT_ACK_JOURNAL` (the ack appends to a memory-mapped file and returns), its
jobs running, its backends blocking.

    .venv/bin/python bench/ack_cpu.py                  # 400 acks each
    .venv/bin/python bench/ack_cpu.py --requests 20    # the smoke run (CI)
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ack_load import SECRET, Wsgi, bare_app, bodies, envbot_app  # bench/ack_load.py, beside this

from bot.demo.fake_slack import FakeSlack
from bot.demo.signing import sign

WARM = 50  # acks before the measured ones (imports, caches, the first batch)


def environ(body: str) -> dict[str, Any]:
    """The WSGI environ waitress builds for a signed form POST of `body`."""
    data = body.encode()
    env: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.input": io.BytesIO(data),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
    }
    for name, value in sign(SECRET, body).items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def acks(app: Wsgi, payloads: list[str], profile: cProfile.Profile | None = None) -> list[float]:
    """Each ack's CPU seconds; every one must answer 200."""
    spent = []
    status: list[str] = []

    def start_response(code: str, headers: Any, *rest: Any) -> Callable[..., Any]:
        status.append(code)
        return lambda data: None

    for body in payloads:
        env = environ(body)
        status.clear()
        started = time.thread_time()
        if profile is not None:
            profile.enable()
        b"".join(app(env, start_response))
        if profile is not None:
            profile.disable()
        spent.append(time.thread_time() - started)
        if not status or not status[0].startswith("200"):
            raise SystemExit(f"an ack answered {status}")
    return spent


def figures(name: str, app: Wsgi, slack: FakeSlack, n: int) -> tuple[float, float]:
    """Print `name`'s CPU per ack and calls per ack; return both."""
    acks(app, bodies(slack, WARM, False))
    cpu = acks(app, bodies(slack, n, False))
    profile = cProfile.Profile()
    acks(app, bodies(slack, n, False), profile)
    calls = pstats.Stats(profile).total_calls / n  # type: ignore[attr-defined]
    mean = statistics.mean(cpu)
    print(f"{name}_cpu_mean {mean * 1000:.3f} ms")
    print(f"{name}_cpu_p50 {statistics.median(cpu) * 1000:.3f} ms")
    print(f"{name}_calls {calls:.0f} count")
    return mean, calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="measured acks per app")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    print(f"requests {args.requests} count")
    with FakeSlack(now=lambda: datetime.now(UTC)) as slack, tempfile.TemporaryDirectory() as tmp:
        bare_cpu, bare_calls = figures("bare", bare_app(slack.web_client()), slack, args.requests)
        stop = threading.Event()
        url, journal = f"sqlite:///{tmp}/bench.db", Path(tmp) / "acks"
        with envbot_app(url, slack, 5.0, stop, "durable", journal=journal) as app:
            cpu, calls = figures("journal", app, slack, args.requests)
    print(f"ratio_cpu_journal_over_bare {cpu / bare_cpu:.2f} x")
    print(f"ratio_calls_journal_over_bare {calls / bare_calls:.2f} x")


if __name__ == "__main__":
    main()
