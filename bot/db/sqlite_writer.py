"""One writer at a time per SQLite file in this process, handed on at once instead of polled for.

SQLite lets one connection write at a time. A writer that finds the lock taken waits in SQLite's
busy handler, which sleeps 1, 2, 5, 10 … up to 100 ms between tries: under a burst of acks, a
listener's group commit that met a worker's transaction slept tens of ms past its end, and a
worker kept losing the lock to the stream of commits, each loss a longer sleep. Here the
connections of one process queue on a Python lock before the statement that opens a write
transaction, and the commit or rollback that ends it wakes the next writer at once.

SQLite's own lock stays the guard: another process (an `envbot` command beside `serve`) still
meets it and the busy timeout. A thread that already writes on one connection and opens a
second write on another is not made to wait for itself: it goes on to SQLite's lock, as before.
A wait longer than the busy timeout goes on to SQLite's lock too, whose timeout then applies.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from typing import Any

#: Statements that open a write transaction: those before which Python's sqlite3 opens one (its
#: "legacy" control), and an explicit BEGIN IMMEDIATE or EXCLUSIVE (`bot.lifecycle.batch`).
_OPENS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")
#: Seconds a writer waits for the lock before it leaves the wait to SQLite's busy timeout.
WAIT = 30.0


class WriterLock:
    """The write turn for one database file, owned by a thread until its transaction ends."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._owner: int | None = None

    def acquire(self, timeout: float = WAIT) -> bool:
        """Wait for the turn; False when this thread owns it already or the wait timed out."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                return False
            if not self._cond.wait_for(lambda: self._owner is None, timeout):
                return False
            self._owner = me
            return True

    def release(self) -> None:
        """Give the turn to the next waiting writer."""
        with self._cond:
            self._owner = None
            self._cond.notify()


_LOCKS: weakref.WeakValueDictionary[str, WriterLock] = weakref.WeakValueDictionary()
_LOCKS_GUARD = threading.Lock()


def lock_for(database: str) -> WriterLock | None:
    """The lock shared by every connection of this process to `database` (None in memory: each
    such connection is its own database)."""
    if not database or database == ":memory:" or "mode=memory" in database:
        return None
    with _LOCKS_GUARD:
        lock = _LOCKS.get(database)
        if lock is None:
            lock = _LOCKS[database] = WriterLock()
        return lock


class WriterConnection(sqlite3.Connection):
    """A sqlite3 connection that takes its file's `WriterLock` for each write transaction
    (pass as `factory=` to `sqlite3.connect`)."""

    def __init__(self, database: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._writer = lock_for(str(database))
        self._holding = False

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or WriterCursor)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        # sqlite3's own shortcut makes a plain cursor, not this class's
        return self.cursor().execute(sql, parameters)  # type: ignore[no-any-return]

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, seq_of_parameters)  # type: ignore[no-any-return]

    def before(self, sql: str) -> None:
        """Take the turn when `sql` opens a write transaction."""
        if self._writer is None or self._holding or self.in_transaction:
            return
        if " ".join(sql[:40].split()).upper().startswith(_OPENS):
            self._holding = self._writer.acquire()

    def after(self) -> None:
        """Give the turn back once no transaction is open."""
        if not self.in_transaction:
            self._give_back()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.after()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.after()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._give_back()

    def __del__(self) -> None:
        # A connection dropped without close() (sqlite3 closes it as it is freed) ends its
        # transaction, so it must not keep the turn either.
        self._give_back()

    def _give_back(self) -> None:
        if getattr(self, "_holding", False) and self._writer is not None:
            self._holding = False
            self._writer.release()


class WriterCursor(sqlite3.Cursor):
    """Takes the connection's turn before a statement that opens a write transaction."""

    def execute(self, sql: str, parameters: Any = (), /) -> WriterCursor:
        conn: WriterConnection = self.connection  # type: ignore[assignment]
        conn.before(sql)
        try:
            super().execute(sql, parameters)
        finally:
            conn.after()
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> WriterCursor:
        conn: WriterConnection = self.connection  # type: ignore[assignment]
        conn.before(sql)
        try:
            super().executemany(sql, seq_of_parameters)
        finally:
            conn.after()
        return self
