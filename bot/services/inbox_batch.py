"""The inbox's group commit: requests arriving together are recorded in one transaction.

Under a burst of acks the write is what each listener waits for, so it is kept short: the
first caller leads and commits what is queued, itself included; whoever arrived meanwhile is
the next batch, led by the oldest of them (the leader hands on and returns, so no request
waits for more than the batch before its own). The batch is written with Core statements
compiled once, without an ORM session: the ORM's work per batch was most of the listeners'
wait. On PostgreSQL the batch is one statement in autocommit, so one round trip (its default
`synchronous_commit` still makes the commit durable before the statement returns, unless
`ENVBOT_DATABASE__ACK_COMMIT=fast` turns it off for that statement). SQLite's statements are in
`inbox_sqlite`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text

from bot.db.types import UTCDateTime
from bot.services.inbox_sqlite import write_sqlite


@dataclass
class Claimed:
    """A row claimed by one run: what to run and the run's id."""

    key: str
    kind: str
    body: dict[str, Any]
    run_id: str
    attempts: int = 1


@dataclass
class _Pending:
    claimed: Claimed
    batch: list[_Pending] | None = None  # the batch this caller leads (itself included)
    added: bool = False
    error: Exception | None = None
    woken: threading.Event = field(default_factory=threading.Event)


class GroupCommit:
    """Queues callers and has one leader at a time write the queue with `write` (-> the keys
    that were new). Four leaders at once on PostgreSQL, so that a batch need not wait for the
    previous one's flush, measured no better (docs/PERFORMANCE.md, P1)."""

    def __init__(self, write: Callable[[dict[str, Claimed]], set[str]]) -> None:
        self._write = write
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False

    def record(self, claimed: Claimed) -> bool:
        """Record `claimed` with its batch; False when its key was already recorded."""
        pending = _Pending(claimed)
        with self._lock:
            self._queue.append(pending)
            if not self._leading:
                self._leading = True
                pending.batch, self._queue = self._queue, []
        if pending.batch is None:
            pending.woken.wait()  # its batch committed, or it was given the next one to lead
        if pending.batch is not None:
            try:
                self._commit(pending.batch)
            finally:
                with self._lock:  # hand the queue to its oldest, or free the lead
                    if self._queue:
                        oldest = self._queue[0]
                        oldest.batch, self._queue = self._queue, []
                        oldest.woken.set()
                    else:
                        self._leading = False
        if pending.error is not None:
            raise pending.error
        return pending.added

    def _commit(self, batch: list[_Pending]) -> None:
        first: dict[str, _Pending] = {}
        for item in batch:
            first.setdefault(item.claimed.key, item)
        try:
            added = self._write({key: item.claimed for key, item in first.items()})
        except Exception as exc:  # noqa: BLE001 - every request of the batch is told
            for item in batch:
                item.error = exc
        else:
            for key in added:
                first[key].added = True
        finally:
            for item in batch:
                item.woken.set()


# -- the batch's statements ------------------------------------------------------------------

# PostgreSQL: one statement, so one round trip in autocommit. With `fast` it also sets
# `synchronous_commit` off for its own transaction (`set_config(..., true)`: the statement is
# the transaction), so the commit returns before the WAL is flushed (README, `ack_commit`).
_PG_BATCH = """
    WITH batch AS (
        SELECT * FROM json_to_recordset(CAST(:batch AS json))
            AS b(key text, kind text, body json, run_id text)
        {fast}
    ), added AS (
        INSERT INTO inbound (key, received_at) SELECT key, :now FROM batch
        ON CONFLICT DO NOTHING RETURNING key
    )
    INSERT INTO inbox (key, kind, body, received_at, claimed_until, run_id, attempts)
    SELECT batch.key, batch.kind, batch.body, :now, :until, batch.run_id, 1
    FROM batch JOIN added ON added.key = batch.key
    RETURNING key
    """
_PG_STATEMENTS = {
    fast: text(
        _PG_BATCH.format(
            fast="WHERE set_config('synchronous_commit', 'off', true) = 'off'" if fast else ""
        )
    ).bindparams(bindparam("now", type_=UTCDateTime()), bindparam("until", type_=UTCDateTime()))
    for fast in (False, True)
}


def write_batch(
    engine: Engine,
    now: datetime,
    lease: timedelta,
    claims: dict[str, Claimed],
    *,
    fast: bool = False,
) -> set[str]:
    """Record `claims` (distinct keys) in one transaction; the keys that were new. `fast`: on
    PostgreSQL, do not wait for the WAL flush (SQLite's commit never waits for the disk)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            return pg_batch(conn, now, lease, claims, fast=fast)
    with engine.begin() as conn:
        return write_sqlite(conn, now, lease, claims)


def pg_batch(
    conn: Connection, now: datetime, lease: timedelta, claims: dict[str, Claimed], *, fast: bool
) -> set[str]:
    """The PostgreSQL batch statement on `conn` (its own transaction in autocommit)."""
    batch = json.dumps(
        [
            {"key": c.key, "kind": c.kind, "body": c.body, "run_id": c.run_id}
            for c in claims.values()
        ]
    )
    found = conn.execute(_PG_STATEMENTS[fast], {"batch": batch, "now": now, "until": now + lease})
    return set(found.scalars().all())
