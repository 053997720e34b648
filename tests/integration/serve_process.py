"""`envbot serve` as a real subprocess on loopback, for the replica and shutdown tests and bench."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, ClassVar

import requests
from sqlalchemy import Engine, text

from bot.demo.fake_slack import FakeSlack
from bot.demo.signing import sign, slash_body

ROOT = Path(__file__).resolve().parents[2]
SECRET = "replica-signing-secret"
START_TIMEOUT = 90.0  # imports and migrations of a cold process on a loaded 2-core machine
# What bot.server logs once it is bound (plain or JSON lines): the port the process really has.
_LISTENING = re.compile(r"listening on http://127\.0\.0\.1:([0-9]+)")


class Serve:
    """One `envbot serve [--migrate]` process; its log goes to `log_path`.

    It binds port 0 and `wait_ready` reads the port from its own log: a port picked here and
    bound seconds later (a cold start) can be taken meanwhile by another process on a shared
    machine, whose server then answers the readiness probe and the signed requests (with a
    401: another secret) while this serve dies on EADDRINUSE (docs/RELIABILITY.md, crash matrix).
    """

    #: `serve --migrate`; False (`MigratedServe`) for a database migrated before: no alembic import
    migrate: ClassVar[bool] = True

    def __init__(
        self, database_url: str, slack: FakeSlack, log_path: Path, **settings: str
    ) -> None:
        self.port = 0  # known once the process logged it is listening (`wait_ready`)
        self.log_path = log_path
        self.slack = slack
        env = {
            **os.environ,
            "ENVBOT_DATABASE_URL": database_url,
            "ENVBOT_SLACK__BOT_TOKEN": slack.token,
            "ENVBOT_SLACK__SIGNING_SECRET": SECRET,
            "ENVBOT_SLACK__API_URL": slack.api_url,
            "ENVBOT_POLICY_FILE": str(ROOT / "examples" / "policy.yaml"),
            "ENVBOT_HTTP_HOST": "127.0.0.1",
            "ENVBOT_HTTP_PORT": "0",
            "ENVBOT_LOG_LEVEL": "INFO",  # the "listening on" line
            "ENVBOT_SHUTDOWN_DELAY": "0",
            **settings,
        }
        self._log: IO[bytes] = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", *(["--migrate"] if self.migrate else [])],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        if not self.port:
            raise AssertionError("the serve's port is known once wait_ready() has returned")
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def readyz(self) -> int:
        return requests.get(f"{self.url}/readyz", timeout=5).status_code

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.log()}")
            if not self.port:
                bound = _LISTENING.search(self.log())
                self.port = int(bound.group(1)) if bound else 0
            try:
                if self.port and self.readyz() == 200:
                    return
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"serve not ready in {START_TIMEOUT}s: {self.log()}")
            time.sleep(0.1)

    def command(self, user: str, command: str, text: str) -> requests.Response:
        """Post a signed slash command, as Slack would; returns the ack."""
        uid = self.slack.user_id(user)
        channel = self.slack.channel_id("platform")
        body = slash_body(
            command,
            text,
            user_id=uid,
            user_name=user,
            channel_id=channel,
            response_url=self.slack.new_response_url(channel, uid),
            trigger_id=self.slack.new_trigger_id(uid),
        )
        return requests.post(
            f"{self.url}/slack/events", data=body.encode(), headers=sign(SECRET, body), timeout=10
        )

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Kill it if it still runs (test teardown)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


class MigratedServe(Serve):
    """`envbot serve` on a database migrated before (the crash harness: a restart is quicker)."""

    migrate = False


def lock_holder_pid(engine: Engine, key: int) -> int | None:
    """The OS pid of the process whose session holds the advisory lock `key` (from the
    session's application_name, `envbot-jobs-lock:<host>:<pid>`), or None."""
    query = text(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) = :k"
    )
    with engine.connect() as conn:
        name = conn.execute(query, {"k": key}).scalar()
    return None if name is None else int(str(name).rsplit(":", 1)[1])
