"""Which replica runs the jobs: a PostgreSQL session advisory lock held on one connection.

Every replica serves Slack; only the holder of the lock runs jobs. The lock lives as long as its
connection, so a replica that dies or loses its connection releases it and another takes over
at its next try. There is no fencing: for up to one check interval two replicas may both think
they lead, which is why every job is idempotent. SQLite runs as one instance and always leads.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

logger = logging.getLogger(__name__)

# "envbot" in ASCII: one lock per database, so one job runner per deployment.
JOBS_LOCK_KEY = 0x656E76626F74


class LeaderElector(Protocol):
    """Decides whether this process runs the jobs; asked before every job run.

    `is_leader()` must be cheap and must not raise: a failure to decide means "not leader".
    Calling it again after losing leadership tries to take it back.
    """

    def is_leader(self) -> bool:
        """Return True while this process holds leadership."""
        ...

    def close(self) -> None:
        """Give up leadership (if held) and release the resources behind it; idempotent."""
        ...


class SqliteLeader:
    """SQLite is a single-instance database, so its one process always leads."""

    def __init__(self) -> None:
        logger.info("job leader: SQLite runs as a single instance; this process runs the jobs")

    def is_leader(self) -> bool:
        """Always True."""
        return True

    def close(self) -> None:
        """Nothing to release."""


class PostgresAdvisoryLeader:
    """Leads while it holds `pg_try_advisory_lock(key)` on one dedicated, detached connection."""

    def __init__(
        self,
        engine: Engine,
        key: int = JOBS_LOCK_KEY,
        *,
        check_interval: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare the elector; the first `is_leader()` connects and tries the lock.

        Args:
            engine: a PostgreSQL engine; one connection is taken out of its pool for good.
            key: the advisory lock key, the same on every replica.
            check_interval: seconds between checks; in between, `is_leader()` answers from memory.
            monotonic: the time source for the check interval (tests pass their own).
        """
        self._engine = engine
        self._key = key
        self._interval = check_interval
        self._monotonic = monotonic
        self._conn: Connection | None = None
        self._pid: int | None = None
        self._leader = False
        self._checked_at: float | None = None
        self._lock = threading.Lock()

    def is_leader(self) -> bool:
        """Return the cached answer, re-checking the connection (or re-trying the lock) when due."""
        with self._lock:
            now = self._monotonic()
            if self._checked_at is not None and now - self._checked_at < self._interval:
                return self._leader
            self._checked_at = now
            was = self._leader
            try:
                self._leader = self._still_held() if was else self._try_acquire()
            except SQLAlchemyError as exc:
                logger.warning("job leader: lost the database connection (%s)", type(exc).__name__)
                self._drop()
                self._leader = False
            if self._leader != was:
                logger.info(
                    "job leader: %s the jobs lock %s",
                    "took" if self._leader else "lost",
                    self._key,
                    extra={"leader": self._leader},
                )
            return self._leader

    def close(self) -> None:
        """Unlock and close the dedicated connection; another replica takes over on its next try."""
        with self._lock:
            if self._conn is not None and self._leader:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                except SQLAlchemyError:
                    logger.warning("job leader: unlock failed; closing the connection frees it")
            self._drop()
            self._leader = False

    def _try_acquire(self) -> bool:
        conn = self._connection()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar_one()
        return bool(got)

    def _still_held(self) -> bool:
        # The backend pid must be the one that took the lock: a silently replaced connection
        # would answer SELECT but hold no lock.
        if self._conn is None:
            return False
        pid = self._conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
        if pid != self._pid:
            self._drop()
            return False
        return True

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            conn.detach()  # never back into the pool: the lock belongs to this session
            self._pid = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            self._conn = conn
        return self._conn

    def _drop(self) -> None:
        conn, self._conn, self._pid = self._conn, None, None
        if conn is None:
            return
        try:
            conn.close()  # detached: this closes the session itself, which frees any lock
        except SQLAlchemyError:
            logger.debug("job leader: closing a dead connection failed", exc_info=True)


def choose_leader(engine: Engine, key: int = JOBS_LOCK_KEY) -> LeaderElector:
    """The elector for the engine's database: an advisory lock on PostgreSQL, else always-leader.

    Args:
        engine: the bot's engine.
        key: the advisory lock key (PostgreSQL only).

    Returns:
        A `PostgresAdvisoryLeader` on PostgreSQL, a `SqliteLeader` otherwise.
    """
    if engine.dialect.name == "postgresql":
        return PostgresAdvisoryLeader(engine, key)
    return SqliteLeader()
