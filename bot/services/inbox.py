"""The inbound inbox: each acknowledged Slack request is a row until its work has written.

The listener records a request (`accept`) in the one transaction that also records its dedupe
key, claimed for a lease by the process that received it, and acks. A worker of that process
runs it inside `running(...)`; rows whose lease lapsed (their process died) are claimed again
by `claim_due`. While it runs, the first
transaction of that thread that writes anything also deletes the row, so the work's first
effect and "done" commit together: a `kill -9` before it leaves the row to be run again (after
the lease, on any replica), a `kill -9` after it leaves nothing to repeat. A second run of the
same row (a lease that lapsed under a slow but live worker) finds the row gone or re-claimed at
that commit and is rolled back (`InboxLost`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import InboxRow
from bot.domain.clock import Clock
from bot.services.inbound import bounded
from bot.services.inbox_batch import Claimed, GroupCommit, write_batch

__all__ = ["MAX_ATTEMPTS", "Claimed", "Inbox", "InboxLost"]

#: A row whose run failed this many times is dropped (with an error log) instead of run again.
MAX_ATTEMPTS = 5
_WRITES = ("INSERT", "UPDATE", "DELETE")
_KEEP_OPEN = "envbot_inbox_keep_open"


class InboxLost(Exception):
    """Another run has done (or taken over) this row: this run's write is rolled back."""


@dataclass
class _Run:
    claimed: Claimed
    wrote: bool = False  # a DML statement ran in the current transaction
    owned: bool = False  # the row was deleted with an earlier write of this run
    lost: bool = False
    # called in the transaction that deletes the row (`handlers.fallback` queues its answer)
    on_done: Callable[[Session], None] | None = None


_CURRENT: ContextVar[_Run | None] = ContextVar("envbot_inbox_run", default=None)


class Inbox:
    """The `inbox` table and the commit hook that marks a row done with its work's first write."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        lease: timedelta,
        *,
        fast_commit: bool = False,
    ) -> None:
        """`fast_commit`: on PostgreSQL, the record's commit does not wait for the WAL flush
        (`ENVBOT_DATABASE__ACK_COMMIT=fast`; README, "Configuration")."""
        self.sessions = sessions
        self.clock = clock
        self.lease = lease
        event.listen(sessions, "before_commit", _before_commit)
        event.listen(sessions, "after_commit", _transaction_ended)
        event.listen(sessions, "after_rollback", _transaction_ended)
        engine = sessions.kw.get("bind")
        if not isinstance(engine, Engine):
            raise TypeError("the inbox needs a sessionmaker bound to an Engine")
        event.listen(engine, "before_cursor_execute", _saw_statement)
        self._batches = GroupCommit(self.record_many)
        self._engine = engine
        self._fast = fast_commit

    def accept(self, key: str, kind: str, body: dict[str, Any]) -> Claimed | None:
        """Record a delivery and its dedupe key, claimed by the caller for a lease; None for a
        duplicate. Requests arriving together are committed together (`inbox_batch`)."""
        claimed = Claimed(bounded(key), kind, body, secrets.token_hex(8))
        return claimed if self._batches.record(claimed) else None

    def record_many(self, claims: dict[str, Claimed]) -> set[str]:
        """Record `claims` (distinct keys) in one transaction now; the keys that were new (the
        journal's ingester, `journal_ingest`, is the one writer that calls it directly)."""
        return write_batch(self._engine, self.clock.now(), self.lease, claims, fast=self._fast)

    def claim_due(self, limit: int = 50) -> tuple[list[Claimed], list[Claimed]]:
        """Claim rows whose lease lapsed (their worker died or never started), oldest first;
        on PostgreSQL with SKIP LOCKED, so replicas sweeping at once take different rows.

        Returns:
            (rows to run, rows dropped after `MAX_ATTEMPTS` failed runs).
        """
        now = self.clock.now()
        run: list[Claimed] = []
        dropped: list[Claimed] = []
        with self.sessions.begin() as s:
            rows = s.scalars(
                select(InboxRow)
                .where(InboxRow.claimed_until < now)
                .order_by(InboxRow.claimed_until)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                claimed = Claimed(row.key, row.kind, dict(row.body), secrets.token_hex(8))
                if row.attempts >= MAX_ATTEMPTS:
                    dropped.append(claimed)
                    s.delete(row)
                    continue
                row.run_id = claimed.run_id
                row.claimed_until = now + self.lease
                row.attempts += 1
                claimed.attempts = row.attempts
                run.append(claimed)
        return run, dropped

    def drop(self, claimed: Claimed) -> None:
        """Delete the row of a run whose work cannot succeed (if this run still holds it)."""
        with self.sessions.begin() as s:
            _delete(s, claimed)

    def next_due(self, now: datetime) -> datetime | None:
        """When the earliest lease lapses (None: the inbox is empty)."""
        with self.sessions() as s:
            due: datetime | None = s.scalar(select(func.min(InboxRow.claimed_until)))
        return None if due is None else max(due, now)

    def pending(self) -> int:
        """Rows not yet done (the tests and the bench wait for none)."""
        with self.sessions() as s:
            return int(s.scalar(select(func.count()).select_from(InboxRow)) or 0)

    @contextmanager
    def running(
        self, claimed: Claimed, on_done: Callable[[Session], None] | None = None
    ) -> Iterator[None]:
        """Run `claimed`'s work in this block (this thread); the row is deleted with its first
        write, or at the end when it wrote nothing. An exception leaves the row claimed, to be
        run again when its lease lapses. `on_done(session)` runs in the transaction of the
        first write, after the delete (it may add to that transaction).

        Raises:
            InboxLost: another run did the row first; nothing of this run was committed.
        """
        run = _Run(claimed, on_done=on_done)
        token = _CURRENT.set(run)
        try:
            yield
        finally:
            _CURRENT.reset(token)
        if not run.owned and not run.lost:
            with self.sessions.begin() as s:
                _delete(s, claimed)


def keep_open(session: Session) -> None:
    """Commit this transaction of a run without marking the row done: a step (a one-shot
    button's claim) whose effect follows in a later transaction; a run again after a crash
    between the two must find the step and go on (`bot.services.once`)."""
    session.info[_KEEP_OPEN] = True


def current_key() -> str | None:
    """The key of the inbox row this thread is running, if any."""
    run = _CURRENT.get()
    return None if run is None else run.claimed.key


def _delete(s: Session, claimed: Claimed) -> bool:
    gone = s.execute(
        delete(InboxRow)
        .where(InboxRow.key == claimed.key, InboxRow.run_id == claimed.run_id)
        .returning(InboxRow.key)
        .execution_options(synchronize_session=False)
    ).first()
    return gone is not None


def _saw_statement(
    _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
) -> None:
    run = _CURRENT.get()
    if run is not None and not run.wrote and statement.lstrip()[:6].upper() in _WRITES:
        run.wrote = True


def _before_commit(session: Session) -> None:
    run = _CURRENT.get()
    if session.info.pop(_KEEP_OPEN, False) or run is None or run.owned:
        return
    if run.lost:
        raise InboxLost(run.claimed.key)
    if not (run.wrote or session.new or session.dirty or session.deleted):
        return
    if not _delete(session, run.claimed):
        run.lost = True
        raise InboxLost(run.claimed.key)
    if run.on_done is not None:
        run.on_done(session)
    run.owned = True


def _transaction_ended(_session: Session) -> None:
    run = _CURRENT.get()
    if run is not None:
        run.wrote = False
