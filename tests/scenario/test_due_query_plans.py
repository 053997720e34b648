"""Every query the jobs run uses an index: EXPLAIN, not timing, on SQLite and PostgreSQL.

The list of due queries is the runtime's own job list: the test runs every job (and its
`next_due`) with a statement hook on the engine and EXPLAINs each SELECT, UPDATE and DELETE it
sent, so a new job or a new query in a job is checked without anyone adding it here. A job
missing from `EXPECTED` fails the test, and so does a job none of whose plans uses the index
its due query was built for.

SQLite: `EXPLAIN QUERY PLAN` must never `SCAN` a table that grows with use. PostgreSQL: with
`enable_seqscan = off` (so an empty table still shows the plan the indexes allow), `EXPLAIN
(FORMAT JSON)` must show no `Seq Scan` of one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select, text

from bot.db.models import AccessRequest, Environment, InboxRow, OutboxMessage, SlackMessage
from bot.domain.clock import ManualClock
from bot.policy import Policy
from tests.scenario.conftest import RuntimeFactory

BIG = (
    "environments",
    "access_requests",
    "outbox",
    "events",
    "inbound",
    "slack_messages",
    "offboardings",
    "inbox",
)
# Per job, the indexes built for its due queries: at least one must appear in its plans.
EXPECTED = {
    "expiry": {"ix_environments_state_expires_at"},
    "env-timeouts": {"ix_environments_state_next_check_at"},
    "access-expiry": {"ix_access_requests_state_expires_at"},
    "access-timeouts": {"ix_access_requests_state_pending_until"},
    "cloud-cleanup": {"ix_environments_state_next_check_at"},
    "break-glass-reviews": {"ix_access_requests_review_next_at"},
    "escalation": {"ix_environments_state_escalate_at", "ix_access_requests_state_escalate_at"},
    "reminders": {"ix_environments_state_remind_at", "ix_access_requests_state_remind_at"},
    # they watch every live object (READY and ACTIVE too: drift), by state: any index on state
    "reconcile": {
        "uq_environments_reserved_name",
        "ix_environments_state_expires_at",
        "ix_environments_state_next_check_at",
        "ix_environments_state_remind_at",
        "ix_environments_state_escalate_at",
    },
    "access-reconcile": {
        "ix_access_requests_state_pending_until",
        "ix_access_requests_state_expires_at",
        "ix_access_requests_state_next_check_at",
        "ix_access_requests_state_remind_at",
        "ix_access_requests_state_escalate_at",
    },
    "outbox": {"ix_outbox_status_due_at"},
    "offboarding": {"ix_offboardings_due_at"},
    # requests whose worker died: by when their lease lapses
    "inbox": {"ix_inbox_claimed_until"},
    "retention": {"ix_outbox_status_created_at", "ix_inbound_received_at", "ix_events_at"},
}
DAY = timedelta(days=1)
HISTORY = 10  # ended objects per live one: what is stored grows, what is live does not
CHECKED = re.compile(r"^\s*(SELECT|UPDATE|DELETE)\b", re.IGNORECASE)


class Recorder:
    """The statements an engine sent while `recording` is set."""

    def __init__(self, engine: Engine) -> None:
        self.sent: list[tuple[str, Any]] = []
        self.recording = False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(
        self, _conn: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool
    ) -> None:
        if self.recording and CHECKED.match(statement):
            self.sent.append((statement, params[0] if many and params else params))

    def take(self) -> list[tuple[str, Any]]:
        sent, self.sent = self.sent, []
        return sent


def sqlite_plan(engine: Engine, statement: str, params: Any) -> tuple[list[str], set[str]]:
    """(the offending steps, the indexes used) of one statement on SQLite."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()
    steps = [str(row[-1]) for row in rows]
    bad = [s for s in steps if re.match(rf"SCAN ({'|'.join(BIG)})\b", s)]
    used = {m for s in steps for m in re.findall(r"USING (?:COVERING )?INDEX (\w+)", s)}
    return bad, used


def postgres_plan(engine: Engine, statement: str, params: Any) -> tuple[list[str], set[str]]:
    """(the offending steps, the indexes used) of one statement on PostgreSQL."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        raw = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", params).scalar_one()
        conn.rollback()
    plan = raw if isinstance(raw, list) else json.loads(raw)
    bad: list[str] = []
    used: set[str] = set()
    for node in _nodes(plan[0]["Plan"]):
        if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in BIG:
            bad.append(f"Seq Scan on {node['Relation Name']}")
        if "Index Name" in node:
            used.add(node["Index Name"])
    return bad, used


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _env(env_id: str, state: str, now: datetime, **values: Any) -> dict[str, Any]:
    row = {
        "id": env_id, "name": f"n-{env_id}", "workspace": "sandbox", "template": "dev",
        "kind": "namespace", "backend": "fake", "owner_id": "U0ALICE",
        "owner_email": "alice@example.com", "created_by": "U0ALICE", "state": state,
        "created_at": now, "updated_at": now, "expires_at": now + DAY, "version": 1,
        "created": True, "remind_at": None, "escalate_at": None, "next_check_at": None,
        "cloud_cleanup": "done",
    }  # fmt: skip
    return row | values


def _grant(req_id: str, state: str, now: datetime, **values: Any) -> dict[str, Any]:
    row = {
        "id": req_id, "requester_id": "U0ALICE", "subject": "alice@example.com",
        "workspace": "sandbox", "role": "view", "backend": "fake", "duration_s": 3600,
        "reason": "plans", "state": state, "created_at": now, "updated_at": now,
        "pending_until": now + DAY, "expires_at": None, "remind_at": None, "escalate_at": None,
        "version": 1,
    }  # fmt: skip
    return row | values


def _message(key: str, status: str, at: datetime) -> dict[str, Any]:
    """An outbox row: sent history, or a DM waiting for its slot (`due_at` ahead)."""
    return {
        "key": key, "kind": "dm", "channel": "", "user_id": "U0ALICE", "object_type": "",
        "object_id": "", "purpose": "", "thread_purpose": "", "payload": {"text": key},
        "status": status, "attempts": 0, "created_at": at, "due_at": at, "last_error": "",
    }  # fmt: skip


def _updates(now: datetime) -> list[dict[str, Any]]:
    """Due card and DM-copy updates, so the drain's per-update statements run too: a copy
    whose DM was parked (looked up, settled), and a card's render that a newer one superseded
    (its claim refused, settled)."""
    copy, card = ("access", "gcopy"), ("access", "gcard")
    return [
        _message("copy", "parked", now - DAY)
        | {"object_type": copy[0], "object_id": copy[1], "purpose": "dm:U0CAROL"},
        *(
            _message(f"update-{obj[1]}-{i}", "pending", now - timedelta(minutes=2 - i))
            | {"kind": "update", "object_type": obj[0], "object_id": obj[1], "purpose": purpose}
            for obj, purpose, i in ((copy, "dm:U0CAROL", 0), (card, "card", 0), (card, "card", 1))
        ),
    ]


def _inbox(key: str, until: datetime) -> dict[str, Any]:
    return {
        "key": key,
        "kind": "command",
        "body": {"command": "/env", "text": "help"},
        "received_at": until - timedelta(minutes=1),
        "claimed_until": until,
        "attempts": 0,
    }


def _seed(engine: Engine, now: datetime) -> None:
    """One object due for each job, so the per-item statements run too, among many more
    that are not due (of a backend this runtime does not have, so reconcile leaves them),
    and ten times as many ended ones; PostgreSQL's statistics are gathered, so it weighs its
    indexes as it would in use."""
    hour, n = timedelta(hours=1), 200
    envs = [
        _env("eexp", "READY", now, expires_at=now - hour),
        _env("erem", "READY", now, expires_at=now + hour / 2, remind_at=now - hour),
        _env("epen", "PENDING_APPROVAL", now, next_check_at=now - hour),
        _env("eesc", "PENDING_APPROVAL", now, next_check_at=now + DAY, escalate_at=now - hour),
    ]
    grants = [
        _grant("gpen", "PENDING", now, pending_until=now - hour),
        _grant("gesc", "PENDING", now, escalate_at=now - hour),
        _grant("gexp", "ACTIVE", now, pending_until=now - DAY, expires_at=now - hour),
        _grant(
            "gbrk",
            "EXPIRED",
            now,
            break_glass=True,
            review_due_at=now + hour,
            review_next_at=now - hour,
        ),
    ]
    for i in range(n):
        later = now + DAY + timedelta(minutes=i * 97)
        other = {"backend": "elsewhere", "expires_at": later}
        envs += [
            _env(f"r{i}", "READY", now, remind_at=later - DAY / 2, **other),
            _env(f"p{i}", "PENDING_APPROVAL", now, next_check_at=later, escalate_at=later, **other),
            *(_env(f"d{i}-{k}", "DELETED", now, **other) for k in range(HISTORY)),
            _env(f"c{i}", "DELETED", now, kind="cluster", next_check_at=later, **other),
        ]
        grants += [
            _grant(f"a{i}", "ACTIVE", now, remind_at=later - DAY / 2, **other),
            _grant(f"q{i}", "PENDING", now, pending_until=later, escalate_at=later, **other),
            *(_grant(f"x{i}-{k}", "EXPIRED", now, **other) for k in range(HISTORY)),
        ]
    outbox = [
        _message(f"sent-{i}", "sent", now - timedelta(minutes=i)) for i in range(n * HISTORY)
    ] + [_message(f"later-{i}", "pending", now + timedelta(minutes=i + 1)) for i in range(n)]
    outbox += _updates(now)
    with engine.begin() as conn:
        conn.execute(insert(Environment), envs)
        conn.execute(insert(AccessRequest), grants)
        conn.execute(insert(OutboxMessage), outbox)
        conn.execute(
            insert(SlackMessage),
            [{"object_type": "access", "object_id": "gcard", "purpose": "card",
              "channel": "C0APPROVALS", "ts": "1700000000.000100", "created_at": now - DAY}],
        )  # fmt: skip
        # requests still queued in a live worker's pool: not due
        conn.execute(
            insert(InboxRow),
            [_inbox(f"command:t{i}", now + timedelta(seconds=i + 1)) for i in range(n)],
        )
        if engine.dialect.name == "postgresql":  # autovacuum does it there; envbot never
            conn.execute(text("ANALYZE"))  # runs it on SQLite, whose planner then trusts indexes


@pytest.mark.parametrize("report_only", [False, True])
def test_every_job_query_uses_an_index(
    make_runtime: RuntimeFactory, policy: Policy, clock: ManualClock, report_only: bool
) -> None:
    # setup
    runtime = make_runtime(policy.model_copy(update={"report_only": report_only}))
    runtime.jobs.stop()  # no wake runs beside this test's own: it records one job at a time
    engine = runtime.engine
    explain = postgres_plan if engine.dialect.name == "postgresql" else sqlite_plan
    _seed(engine, clock.now())
    recorder = Recorder(engine)
    assert {job.name for job in runtime.jobs.jobs} == set(EXPECTED), "a job without EXPECTED"

    # execution: every job's next_due and run, each twice (the second pass finds nothing)
    sent: dict[str, list[tuple[str, Any]]] = {}
    for job in runtime.jobs.jobs:
        recorder.recording = True
        for _ in range(2):
            if job.next_due is not None:
                job.next_due(clock.now())
            job.run()
        recorder.recording = False
        sent[job.name] = recorder.take()

    # validating: no full scan of a growing table, and each job's own index in its plans
    problems: list[str] = []
    for name, statements in sent.items():
        used: set[str] = set()
        for statement, params in statements:
            bad, indexes = explain(engine, statement, params)
            used |= indexes
            problems += [f"{name}: {b} in {' '.join(statement.split())}" for b in bad]
        if not used & EXPECTED[name]:
            problems.append(f"{name}: none of {sorted(EXPECTED[name])} used (used {sorted(used)})")
    assert problems == [], "\n".join(problems)
    assert all(sent.values()), {name: len(s) for name, s in sent.items()}
    with engine.connect() as conn:  # the drain's per-update statements ran (and were checked)
        settled = conn.execute(
            select(OutboxMessage.key, OutboxMessage.last_error).where(
                OutboxMessage.key.like("update-%")
            )
        ).all()
    left = dict(settled)
    assert sorted(left) == ["update-gcard-1", "update-gcopy-0"]  # the superseded one dropped
    assert left["update-gcopy-0"] == "its DM (dm:U0CAROL) was never sent"


def test_the_check_catches_a_scan(make_runtime: RuntimeFactory) -> None:
    # setup / execution: a query on a column no index starts with
    engine = make_runtime().engine
    explain = postgres_plan if engine.dialect.name == "postgresql" else sqlite_plan
    with engine.connect() as conn:
        statement = str(
            text("SELECT id FROM access_requests WHERE decided_by = 'U0BOB'").compile(conn)
        )
    bad, used = explain(engine, statement, {} if engine.dialect.name == "postgresql" else ())

    # validating
    assert bad
    assert not used
