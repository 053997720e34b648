"""Whether anything was committed to the database since the last look (the stepped runner's cache).

`data_version(engine)` returns a probe whose value changes whenever another connection commits
(or, on PostgreSQL, whenever a writing transaction starts or ends). The stepped job runner of the
demo and the tests keeps each job's `next_due` answer while the value stays the same: a job's
`next_due` reads only the database and `now`, so with nothing committed its answer still holds.
A change the probe reports that did not matter costs only a fresh `next_due`; the probe must
never miss a commit.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any, Protocol

from sqlalchemy import Engine


class DataVersion(Protocol):
    """A value that differs after any commit to the database; `close` releases the probe."""

    def __call__(self) -> object: ...

    def close(self) -> None: ...


class _SqliteVersion:
    """`PRAGMA data_version` on a connection of its own that never writes: SQLite changes it
    whenever any other connection (of this process or another) commits to the file."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)

    def __call__(self) -> object:
        with self._lock:
            return self._conn.execute("PRAGMA data_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class _PostgresVersion:
    """The server's transaction snapshot (`xmin:xmax:in-progress`): a transaction that writes
    takes a transaction id, which the snapshot lists until it ends, so every commit changes it.

    Asked on a connection of its own in autocommit (one round trip, no pool checkout or ping);
    it never goes back to the pool, so no other user gets an autocommit connection.
    """

    def __init__(self, engine: Engine) -> None:
        self._lock = threading.Lock()
        self._pooled = engine.raw_connection()  # kept: a dropped fairy may close its connection
        driver: Any = self._pooled.driver_connection
        self._conn = driver
        self._pooled.detach()  # never back to the pool: it is in autocommit
        self._conn.autocommit = True
        self._closed = False

    def __call__(self) -> object:
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("SELECT txid_current_snapshot()::text")
                row = cur.fetchone()
            finally:
                cur.close()
            return row[0] if row else None

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._pooled.close()  # detached: this closes the driver's connection


def data_version(engine: Engine) -> DataVersion | None:
    """A probe for `engine`'s database, or None where there is none (an in-memory SQLite)."""
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if not path or path == ":memory:" or path.startswith("file:"):
            return None
        return _SqliteVersion(path)
    if engine.dialect.name == "postgresql":
        return _PostgresVersion(engine)
    return None
