"""Start-up of `envbot serve` next to a process that only imports the same libraries (P5).

Each round starts two fresh processes side by side on this machine: the baseline, which imports
the third-party modules a ready `envbot serve` has loaded and nothing else, and a real
`envbot serve` (HTTP mode, SQLite, the example policy, a fake Slack on loopback). Serve counts as
ready when `/readyz` answers 200 *and* a signed `/env help` right after it is acknowledged with
200, so a readiness that lies shows as a failed round. The baseline's library list is taken
from the serve process itself (its `sys.modules` when ready), so the two load the same code.

Prints `name value unit` lines (medians over the rounds):

    .venv/bin/python bench/startup.py            # 5 rounds
    .venv/bin/python bench/startup.py --small    # 1 round (the CI smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import requests

from bot.db import migrate
from bot.demo.fake_slack import FakeSlack
from bot.demo.signing import sign, slash_body

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-startup-secret"  # noqa: S105 - signs the benchmark's own requests
OWN = {"bot", "handlers", "provisioning", "migrations", "bench", "tests"}
DEADLINE = 180.0  # a shared 2-core machine can be that slow

# The child that runs `envbot serve`: on SIGUSR1 it writes the top-level modules it has loaded.
SERVE_CHILD = """
import json, os, signal, sys
def dump(*_):
    with open(sys.argv[1] + ".part", "w") as out:
        json.dump(sorted(sys.modules), out)
    os.replace(sys.argv[1] + ".part", sys.argv[1])
signal.signal(signal.SIGUSR1, dump)
from bot.cli import main
sys.exit(main(["serve"]))
"""
# The baseline: import the given libraries, say so, and idle until stdin closes.
BASELINE_CHILD = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        pass
print("imported", flush=True)
sys.stdin.read()
"""


def child_env() -> dict[str, str]:
    """This environment without ENVBOT_ settings, with bytecode cached (as an installed image
    has it): under PYTHONDONTWRITEBYTECODE=1 both processes would compile every library from
    source each time, which is not what a deployment starts with. The cache is the one
    scripts/test keeps when set, else one in the temp dir that outlives the run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVBOT_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "envbot-pycache"))
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    """Whether something accepts connections on the loopback `port` (a cheap check)."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def rss_mb(pid: int) -> float:
    """Resident set size of `pid` in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) `pid` has used: unlike wall time, not inflated by a busy
    machine's other processes."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def libraries(modules: list[str]) -> list[str]:
    """The modules of third-party packages among `modules` (submodules included: importing
    `sqlalchemy` alone loads neither its ORM nor a dialect)."""
    stdlib = set(sys.stdlib_module_names)
    return [
        m
        for m in modules
        if (top := m.split(".")[0]) not in stdlib and top not in OWN and not top.startswith("_")
    ]


def baseline(libs: list[str]) -> tuple[float, float, float]:
    """Seconds until a fresh process has imported `libs`, its CPU seconds and RSS (MB) then."""
    start = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", BASELINE_CHILD, *libs],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    if proc.stdout is None or proc.stdin is None:
        raise RuntimeError("the baseline process has no pipes")
    line = proc.stdout.readline()
    took = time.perf_counter() - start
    if line.strip() != "imported":
        raise RuntimeError(f"baseline process said {line!r}")
    cpu, rss = cpu_s(proc.pid), rss_mb(proc.pid)
    proc.stdin.close()
    proc.wait(timeout=DEADLINE)
    return took, cpu, rss


class ServeWorld:
    """A migrated SQLite database, a fake Slack and the environment `envbot serve` reads."""

    def __init__(self, tmp: str, slack: FakeSlack) -> None:
        self.tmp = tmp
        self.slack = slack
        self.url = f"sqlite:///{tmp}/startup.db"
        migrate.upgrade(self.url)

    def env(self, port: int) -> dict[str, str]:
        env = child_env()
        env.update(
            ENVBOT_DATABASE_URL=self.url,
            ENVBOT_POLICY_FILE=str(ROOT / "examples" / "policy.yaml"),
            ENVBOT_SLACK__BOT_TOKEN=self.slack.token,
            ENVBOT_SLACK__SIGNING_SECRET=SECRET,
            ENVBOT_SLACK__API_URL=self.slack.api_url,
            ENVBOT_HTTP_HOST="127.0.0.1",
            ENVBOT_HTTP_PORT=str(port),
            ENVBOT_LOG_LEVEL="WARNING",
        )
        return env

    def signed_help(self) -> tuple[str, dict[str, str]]:
        uid = self.slack.user_id("alice")
        channel = self.slack.channel_id("platform")
        body = slash_body(
            "/env",
            "help",
            user_id=uid,
            user_name="alice",
            channel_id=channel,
            response_url=self.slack.new_response_url(channel, uid),
            trigger_id=self.slack.new_trigger_id(uid),
        )
        return body, sign(SECRET, body)


def serve(world: ServeWorld, dump: Path) -> tuple[float, float, float, float, list[str]]:
    """Start `envbot serve`; seconds to /readyz 200 and to the first signed ack, CPU seconds
    then, idle RSS (MB), and the top-level modules it had loaded."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    body, headers = world.signed_help()
    http = requests.Session()
    start = time.perf_counter()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", SERVE_CHILD, str(dump)],
        env=world.env(port),
        cwd=world.tmp,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # a bare connect until the port listens, then /readyz: polling with `requests` from
        # the start cost this process ~0.8 s of CPU per round, taken from the serve it times
        ready = _until(
            lambda: listening(port) and http.get(f"{base}/readyz", timeout=5).status_code == 200,
            proc,
        )
        ready_s = ready - start
        answer = http.post(f"{base}/slack/events", data=body.encode(), headers=headers, timeout=5)
        if answer.status_code != 200:
            raise RuntimeError(
                f"/readyz said ready but the signed command got {answer.status_code}"
            )
        ack_s = time.perf_counter() - start
        cpu = cpu_s(proc.pid)
        time.sleep(1.0)  # idle: the first job ticks have run
        rss = rss_mb(proc.pid)
        proc.send_signal(signal.SIGUSR1)
        _until(lambda: dump.exists() and dump.stat().st_size > 0, proc)
        modules = json.loads(dump.read_text())
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=DEADLINE)
        http.close()
        if err.strip():
            sys.stderr.write(err)
    dump.unlink(missing_ok=True)
    return ready_s, ack_s, cpu, rss, modules


def _until(check: Callable[[], bool], proc: subprocess.Popen[str]) -> float:
    """Poll `check` every 5 ms; the time it first held. Fails if the process exits."""
    deadline = time.perf_counter() + DEADLINE
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"envbot serve exited with {proc.returncode}")
        try:
            if check():
                return time.perf_counter()
        except requests.ConnectionError:
            pass
        time.sleep(0.005)
    raise RuntimeError("envbot serve was not ready in time")


def main() -> None:
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small", action="store_true", help="one round (smoke run)")
    args = parser.parse_args()
    rounds = 1 if args.small else args.rounds
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp, FakeSlack(now=lambda: now) as slack:
        world = ServeWorld(tmp, slack)
        dump = Path(tmp) / "modules.json"
        # A first serve and baseline, not counted, warm the disk and bytecode caches; the
        # serve tells which libraries it loads.
        *_, modules = serve(world, dump)
        libs = libraries(modules)
        baseline(libs)
        base_s, base_cpu, base_rss, ready_s, ack_s, cpu, rss = [], [], [], [], [], [], []
        for _ in range(rounds):
            took, used, mem = baseline(libs)
            base_s.append(took)
            base_cpu.append(used)
            base_rss.append(mem)
            ready, ack, used, mem, _ = serve(world, dump)
            ready_s.append(ready)
            ack_s.append(ack)
            cpu.append(used)
            rss.append(mem)
    med = statistics.median
    print(f"startup_libraries {len({m.split('.')[0] for m in libs})} count")
    print(f"startup_library_modules {len(libs)} count")
    print(f"startup_baseline_import {med(base_s):.3f} s")
    print(f"startup_serve_readyz {med(ready_s):.3f} s")
    print(f"startup_serve_ack {med(ack_s):.3f} s")
    print(f"startup_difference {med(a - b for a, b in zip(ack_s, base_s, strict=True)):.3f} s")
    print(f"startup_baseline_cpu {med(base_cpu):.3f} s")
    print(f"startup_serve_cpu {med(cpu):.3f} s")
    print(f"startup_cpu_difference {med(a - b for a, b in zip(cpu, base_cpu, strict=True)):.3f} s")
    print(f"startup_baseline_rss {med(base_rss):.1f} MB")
    print(f"startup_serve_rss {med(rss):.1f} MB")
    print(f"startup_rss_difference {med(a - b for a, b in zip(rss, base_rss, strict=True)):.1f} MB")
    print(f"startup_rounds {rounds} count")


if __name__ == "__main__":
    main()
