"""The kill -9 crash harness: a real `envbot serve` killed at a chosen point, restarted, checked.

The points are chosen from outside the process, never by a hook in the bot: the fake Slack
holds the answer to a `chat.postMessage` it has already accepted (a crash between Slack's
accept and the commit), the fake API server holds a provisioning or grant write before doing
it (and does it once released, after the client is gone, as a real API server may), or the
process is killed right after Slack got the ack of an Approve click, or after the ack of a
command whose worker is held at its first Slack call (`users.info`), before it wrote anything,
or (PostgreSQL) after a command's effect committed, while its answer's INSERT waits on a row the
harness holds with the same key.
Then a new process starts on the same database, the same signed request is sent again (a
replay), jobs run until quiet, and the outcome is counted: lost and doubled channel/DM posts,
rows or objects left stuck, and replays that had an effect. Used by
tests/integration/test_crash.py and bench/crash_matrix.py.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import requests
from sqlalchemy import Engine, insert, text

from bot.demo.buttons import click_payload, find_button
from bot.demo.fake_slack_workspace import TEAM_ID
from bot.demo.kube.http import RecordedRequest
from bot.demo.signing import sign, slash_body
from bot.demo.world import World
from bot.policy import load_policy
from bot.slack.notify import OUTBOX
from handlers.fallback import MARK as FALLBACK_MARK
from tests.integration.serve_process import ROOT, SECRET, MigratedServe, Serve

POLICY = ROOT / "examples" / "policy.yaml"
SETTINGS = {
    "ENVBOT_JOBS__OUTBOX_INTERVAL": "0.2",
    "ENVBOT_JOBS__OUTBOX_RESUME_AFTER": "1",
    "ENVBOT_JOBS__RECONCILE_INTERVAL": "0.5",
    "ENVBOT_JOBS__INBOX_LEASE": "1",  # an acknowledged request of a dead process runs after 1 s
}
# The end state must hold this long with nothing unsent and nothing in the inbox: five outbox
# drains and two reconcile passes, any of which would show a late second post.
QUIET = 1.0
CLUSTER_READY_AFTER = 0.5  # the CAPI stand-in's provisioning time (3 s in the demo)
POINTS = (
    "command-ack",
    "card-accepted",
    "provision-write",
    "approve-ack",
    "grant-write",
    "answer-held",
)
#: Points the harness can only hold on PostgreSQL (a row lock on the outbox's unique key).
POSTGRES_ONLY = frozenset({"answer-held"})
HOLD_TIMEOUT = 60.0
QUIET_TIMEOUT = 120.0  # a crash that strands work shows as stuck after this
WRITES = frozenset({"POST", "PUT", "PATCH"})


class Hold:
    """Blocks the first call `matches` accepts (in the fake's server thread) until released."""

    def __init__(self, matches: Callable[..., bool]) -> None:
        self.matches = matches
        self.armed = False
        self.reached = threading.Event()
        self.released = threading.Event()

    def take(self, *args: Any) -> None:
        if self.armed and not self.reached.is_set() and self.matches(*args):
            self.reached.set()
            self.released.wait(HOLD_TIMEOUT)

    def wait(self, what: str) -> None:
        if not self.reached.wait(HOLD_TIMEOUT):
            raise AssertionError(f"the fake never saw {what}")


@dataclass
class Outcome:
    """What one crash left behind, after the restart and the jobs ran until quiet."""

    point: str
    lost: int  # outbox posts/DMs with no message in Slack
    doubled: int  # outbox posts/DMs with more than one message in Slack
    stuck: int  # outbox rows not sent, inbox rows not run, or the env/grant short of its state
    replays: int  # replayed requests that made a second environment or request
    messages: int  # posts/DMs checked
    detail: str


class CrashWorld:
    """The demo world (fake Slack, fake API server, CAPI stand-in) with holds installed."""

    def __init__(
        self,
        world: World,
        database_url: str,
        engine: Engine,
        logs: Path,
        quiet_timeout: float = QUIET_TIMEOUT,
    ) -> None:
        self.quiet_timeout = quiet_timeout
        self.world = world
        world.capi.ready_after = CLUSTER_READY_AFTER
        self.slack = world.slack
        self.kube = world.kube
        self.database_url = database_url
        self.engine = engine
        self.logs = logs
        self.serves: list[Serve] = []
        self.settings: dict[str, str] = {}  # more of the serves' settings (ENVBOT_ACK_JOURNAL)
        self.slack_hold = Hold(lambda method, params: method == "chat.postMessage")
        self.kube_hold = Hold(lambda request: False)
        post = self.slack.handle_api

        def slack_api(method: str, params: Any, token: str | None) -> Any:
            answer = post(method, params, token)  # accepted and stored; the answer waits
            self.slack_hold.take(method, params)
            return answer

        record = self.kube._record

        def kube_record(request: RecordedRequest) -> Any:
            self.kube_hold.take(request)  # not done yet; done once released
            return record(request)

        self.slack.handle_api = slack_api  # type: ignore[method-assign]
        self.kube._record = kube_record  # type: ignore[method-assign]

    def start(self) -> Serve:
        log = self.logs / f"serve-{len(self.serves)}.log"
        serve = MigratedServe(self.database_url, self.slack, log, **SETTINGS, **self.settings)
        self.serves.append(serve)
        serve.wait_ready()
        return serve

    def close(self) -> None:
        self.slack_hold.released.set()
        self.kube_hold.released.set()
        for serve in self.serves:
            serve.stop()

    # -- requests, signed as Slack signs them -----------------------------------------------

    def slash(self, user: str, command: str, line: str) -> str:
        """A slash command body with a fresh trigger_id and response_url, as Slack mints."""
        uid = self.slack.user_id(user)
        channel = self.slack.channel_id("platform")
        return slash_body(
            command,
            line,
            user_id=uid,
            user_name=user,
            channel_id=channel,
            response_url=self.slack.new_response_url(channel, uid),
            trigger_id=self.slack.new_trigger_id(uid),
            team_id=TEAM_ID,
        )

    def click(self, user: str, label: str, ref: str) -> str:
        """The block_actions body of `user` pressing the newest `label` button about `ref`."""
        uid = self.slack.user_id(user)
        found = wait_until(lambda: find_button(self.slack, uid, label, ref), 60, f"{label} {ref}")
        payload = click_payload(self.slack, uid, found, f"{time.time():.6f}", TEAM_ID)
        return urlencode({"payload": json.dumps(payload)})

    @staticmethod
    def send(serve: Serve, body: str, headers: dict[str, str]) -> None:
        """Post a signed request as Slack does; anything but a 200 fails the run with the
        status, the answer's body and the serve's log (kept at `serve.log_path`)."""
        url = f"{serve.url}/slack/events"
        answer = requests.post(url, data=body.encode(), headers=headers, timeout=30)
        if answer.status_code != 200:
            raise AssertionError(
                f"serve answered {answer.status_code} {answer.text[:500]!r} "
                f"(log {serve.log_path}):\n{serve.log()[-6000:]}"
            )

    # -- the checks -------------------------------------------------------------------------

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def unsent(self) -> int:
        return int(self.scalar("SELECT count(*) FROM outbox WHERE status <> 'sent'"))

    def inbox(self) -> int:
        """Acknowledged requests not yet worked (a dead process's rows are run after the lease)."""
        return int(self.scalar("SELECT count(*) FROM inbox"))

    def posted_keys(self) -> dict[str, int]:
        """How many accepted chat.postMessage calls carried each outbox key."""
        counts: dict[str, int] = {}
        for call in self.slack.calls_to("chat.postMessage"):
            meta = call.params.get("metadata")
            if call.status != 200 or call.error or not isinstance(meta, dict):
                continue
            key = str(meta.get("event_payload", {}).get("key", ""))
            counts[key] = counts.get(key, 0) + 1
        return counts

    def outcome(self, point: str, reached: Callable[[], bool]) -> Outcome:
        """Wait until the target state, an empty outbox and an empty inbox hold for `QUIET`
        seconds, then count."""
        deadline = time.monotonic() + self.quiet_timeout
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            if reached() and self.unsent() == 0 and self.inbox() == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > QUIET:
                    break
            else:
                quiet_since = None
            time.sleep(0.2)
        with self.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT key, status FROM outbox WHERE kind IN ('post', 'dm')")
            ).all()
        posted = self.posted_keys()
        lost = [k for k, _ in rows if posted.get(k, 0) == 0]
        doubled = [k for k, _ in rows if posted.get(k, 0) > 1]
        stuck = self.unsent() + self.inbox() + (0 if reached() else 1)
        detail = (
            f"lost={lost} doubled={doubled} unsent={self.unsent()} inbox={self.inbox()} "
            f"reached={reached()}"
        )
        return Outcome(point, len(lost), len(doubled), stuck, 0, len(rows), detail)


def wait_until(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@contextmanager
def crash_world(
    database_url: str, engine: Engine, logs: Path, quiet_timeout: float = QUIET_TIMEOUT
) -> Iterator[CrashWorld]:
    """The world for one crash run; every process it started is killed at the end."""
    with World(load_policy(POLICY), POLICY, io.StringIO()) as world:
        crash = CrashWorld(world, database_url, engine, logs, quiet_timeout)
        try:
            yield crash
        finally:
            crash.close()


def _kill(serve: Serve) -> None:
    serve.proc.kill()  # SIGKILL: nothing runs after this, as in a power loss or OOM kill
    serve.proc.wait(timeout=30)


def _envs(crash: CrashWorld, template: str, state: str | None = None) -> int:
    sql = "SELECT count(*) FROM environments WHERE template = :t"
    if state is None:
        return int(crash.scalar(sql, t=template))
    return int(crash.scalar(sql + " AND state = :s", t=template, s=state))


def _transitions(crash: CrashWorld, table: str, from_state: str) -> int:
    """How many times any object of `table` left `from_state` (audited)."""
    return int(
        crash.scalar(
            f"SELECT count(*) FROM events WHERE from_state = :f AND object_id IN "  # noqa: S608
            f"(SELECT id FROM {table})",
            f=from_state,
        )
    )


def run_point(crash: CrashWorld, point: str) -> Outcome:
    """Crash at `point`, restart, replay, drive until quiet and count (on an empty database:
    every environment and request it finds is this run's)."""
    if point not in POINTS:
        raise ValueError(f"unknown crash point {point!r}; one of {', '.join(POINTS)}")
    serve = crash.start()
    if point == "command-ack":
        return _command_ack(crash, serve)
    if point == "answer-held":
        return _answer_held(crash, serve)
    if point in ("card-accepted", "provision-write"):
        if point == "card-accepted":
            crash.slack_hold.armed = True
        else:
            crash.kube_hold.matches = lambda r: r.method in WRITES and "/clusters" in r.path
            crash.kube_hold.armed = True
        body = crash.slash("alice", "/env", "create sandbox --reason crash")
        headers = sign(SECRET, body)
        crash.send(serve, body, headers)
        (crash.slack_hold if point == "card-accepted" else crash.kube_hold).wait(point)
        _kill(serve)
        crash.slack_hold.released.set()  # the held call finishes; its answer goes nowhere
        crash.kube_hold.released.set()
        serve = crash.start()
        crash.send(serve, body, headers)  # the replay, inside Slack's window
        outcome = crash.outcome(point, lambda: _envs(crash, "sandbox", "READY") == 1)
        outcome.replays = _envs(crash, "sandbox") - 1
        return outcome
    if point == "approve-ack":
        body = crash.slash("alice", "/env", "create prod-cluster --reason crash")
        crash.send(serve, body, sign(SECRET, body))
        click = crash.click("carol", "Approve", "prod-cluster")
        headers = sign(SECRET, click)
        crash.send(serve, click, headers)
        _kill(serve)  # right after the ack
        serve = crash.start()
        crash.send(serve, click, headers)  # the replayed click
        outcome = crash.outcome(point, lambda: _envs(crash, "prod-cluster", "READY") == 1)
        approved = _transitions(crash, "environments", "PENDING_APPROVAL")
        outcome.replays = max(approved - 1, 0) + _envs(crash, "prod-cluster") - 1
        return outcome
    body = crash.slash("alice", "/access", "request sandbox view 1d --reason crash")
    crash.send(serve, body, sign(SECRET, body))
    click = crash.click("bob", "Approve", "")
    crash.kube_hold.matches = lambda r: r.method in WRITES
    crash.kube_hold.armed = True
    headers = sign(SECRET, click)
    crash.send(serve, click, headers)
    crash.kube_hold.wait(point)
    _kill(serve)
    crash.kube_hold.released.set()
    serve = crash.start()
    crash.send(serve, click, headers)
    active = "SELECT count(*) FROM access_requests WHERE state = 'ACTIVE'"
    outcome = crash.outcome(point, lambda: crash.scalar(active) == 1)
    approved = _transitions(crash, "access_requests", "PENDING")
    requests_made = int(crash.scalar("SELECT count(*) FROM access_requests"))
    outcome.replays = max(approved - 1, 0) + requests_made - 1
    return outcome


def _command_ack(crash: CrashWorld, serve: Serve) -> Outcome:
    """Acked, then killed before the work wrote anything: the inbox row is run after the
    restart (its lease lapsed), and the replayed command is a duplicate."""
    crash.slack_hold.matches = lambda method, params: method == "users.info"
    crash.slack_hold.armed = True
    body = crash.slash("alice", "/env", "create sandbox --reason crash")
    headers = sign(SECRET, body)
    crash.send(serve, body, headers)
    crash.slack_hold.wait("the worker's users.info")
    _kill(serve)
    crash.slack_hold.released.set()
    assert _envs(crash, "sandbox") == 0  # the kill came before the work's first write
    serve = crash.start()
    crash.send(serve, body, headers)  # the replay, inside Slack's window
    outcome = crash.outcome("command-ack", lambda: _envs(crash, "sandbox", "READY") == 1)
    outcome.replays = _envs(crash, "sandbox") - 1
    return outcome


def _answer_held(crash: CrashWorld, serve: Serve) -> Outcome:
    """Killed after the command's effect committed and before its answer did: the harness holds
    an uncommitted outbox row with the answer's key, so the worker's answer INSERT waits on the
    unique index (PostgreSQL); the kill comes there, the harness rolls back. The restarted serve
    must send the fallback queued with the effect, once, to the command's response_url."""
    if crash.engine.dialect.name != "postgresql":
        raise ValueError("answer-held needs PostgreSQL (a held row lock on the outbox key)")
    body = crash.slash("alice", "/env", "create sandbox --reason crash")
    form = dict(parse_qsl(body))
    key = f"resp:{form['user_id']}:{form['trigger_id']}:answer"
    with crash.engine.connect() as holder:
        held = holder.begin()
        pid = holder.execute(text("SELECT pg_backend_pid()")).scalar()
        holder.execute(
            insert(OUTBOX),
            {
                "key": key,
                "kind": "response",
                "payload": {"text": "held by the crash harness"},
                "created_at": datetime.now(UTC),
                "due_at": datetime.now(UTC),
            },
        )
        headers = sign(SECRET, body)
        crash.send(serve, body, headers)
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'INSERT INTO outbox%' "
            "AND :pid = ANY(pg_blocking_pids(pid))"
        )
        wait_until(
            lambda: crash.scalar(waiting, pid=pid), HOLD_TIMEOUT, "the answer's INSERT to wait"
        )
        _kill(serve)
        held.rollback()
    # the crash came where it was meant to: the effect committed, the answer did not
    row = "SELECT count(*) FROM outbox WHERE key = :k"
    queued = int(crash.scalar(row, k=f"resp:{form['user_id']}:{form['trigger_id']}:fallback"))
    if (_envs(crash, "sandbox"), int(crash.scalar(row, k=key))) != (1, 0):
        raise AssertionError("answer-held: the kill did not come between effect and answer")
    serve = crash.start()
    crash.send(serve, body, headers)  # the replay, inside Slack's window: a duplicate
    outcome = crash.outcome("answer-held", lambda: _envs(crash, "sandbox", "READY") == 1)
    outcome.replays = _envs(crash, "sandbox") - 1
    answers = [c for c in crash.slack.calls_to("response_url") if c.status == 200]
    fallbacks = [c for c in answers if FALLBACK_MARK in str(c.params)]
    outcome.lost += int(not fallbacks)
    outcome.doubled += max(len(answers) - 1, 0)
    outcome.messages += len(answers)
    outcome.detail += f" fallback_queued={queued} answers={len(answers)} fallbacks={len(fallbacks)}"
    return outcome
