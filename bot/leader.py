"""Which replica runs the jobs: a PostgreSQL advisory lock, held on a heartbeated connection.

Every replica serves Slack; only the holder of `pg_try_advisory_lock(key)` runs jobs. The lock
lives as long as its session, and a session outlives its client when the client's host vanishes
without closing the connection (power loss, partition): with default keepalives PostgreSQL
notices after about two hours. So the lock connection is a lease of `lease` seconds:

* the holder sends `SELECT 1` every `lease/6` s (a standby retries the lock as often);
* the server ends the session once it has been idle `lease/2` s (`idle_session_timeout`, PG 14+),
  which frees the lock, so a silent holder is dropped by the server within `lease/2` s of its last
  heartbeat and a standby takes the lock at its next try: within `2/3 lease` of the host going
  silent, and within `lease/6` of a kill (the kernel closes the socket at once);
* the holder only believes it leads while its last good heartbeat was *sent* less than
  `lease/3` s ago, which is before the server can have dropped it (`lease/2` after the server
  answered it). A holder that was frozen or cut off therefore stops starting jobs before anyone
  else can take the lock; a heartbeat stuck on a dead socket is cut by a watchdog after `lease/3`.

TCP keepalives and `tcp_user_timeout` on both ends make a real network failure surface as an
error rather than a hang. A job run that had already started when its replica lost the lease is
not interrupted, which is why every job is idempotent. SQLite runs as one instance and leads.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

logger = logging.getLogger(__name__)

# "envbot" in ASCII: one lock per database, so one job runner per deployment.
JOBS_LOCK_KEY = 0x656E76626F74
DEFAULT_LEASE = 15.0
APPLICATION_NAME = "envbot-jobs-lock"  # then ":<host name>:<pid>": who holds the lock


def application_name() -> str:
    """The lock session's name in `pg_stat_activity`: says which pod and process leads."""
    return f"{APPLICATION_NAME}:{socket.gethostname()}:{os.getpid()}"[:63]


class LeaderElector(Protocol):
    """Decides whether this process runs the jobs; asked before every job run.

    `is_leader()` must be cheap and must not raise: a failure to decide means "not leader".
    """

    def start(self) -> None:
        """Keep the lease in the background (heartbeat and retries) until `close()`."""
        ...

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

    def start(self) -> None:
        """Nothing to keep."""

    def is_leader(self) -> bool:
        """Always True."""
        return True

    def close(self) -> None:
        """Nothing to release."""


def lock_connect_args(
    lease: float, idle_setting: str | None = "idle_session_timeout"
) -> dict[str, object]:
    """libpq settings for the lock connection: TCP keepalives and a user timeout on the client,
    and the session's server-side timeouts (`idle_setting` is what ends a silent holder; None
    leaves it out, for servers older than PostgreSQL 14)."""
    idle_ms = int(lease * 1000 / 2)
    probe = max(1, int(lease / 6))
    idle = {idle_setting: idle_ms} if idle_setting else {}
    options = " ".join(
        f"-c {k}={v}"
        for k, v in {
            **idle,
            "idle_in_transaction_session_timeout": idle_ms,
            "statement_timeout": idle_ms,
            "tcp_keepalives_idle": probe,
            "tcp_keepalives_interval": probe,
            "tcp_keepalives_count": 3,
            "tcp_user_timeout": idle_ms,
        }.items()
    )
    return {
        "application_name": application_name(),
        "connect_timeout": max(2, math.ceil(lease / 3)),  # libpq's minimum is 2 s
        "keepalives": 1,
        "keepalives_idle": probe,
        "keepalives_interval": probe,
        "keepalives_count": 3,
        "tcp_user_timeout": idle_ms,
        "options": options,
    }


class PostgresAdvisoryLeader:
    """Leads while it holds the advisory lock on a session it has heartbeated within `lease/3`."""

    IDLE_SETTING = "idle_session_timeout"  # PostgreSQL 14+

    def __init__(
        self,
        engine: Engine,
        key: int = JOBS_LOCK_KEY,
        *,
        lease: float = DEFAULT_LEASE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare the elector; `start()` (or the first `is_leader()`) connects and tries.

        Args:
            engine: a PostgreSQL engine; its URL is used for one dedicated connection.
            key: the advisory lock key, the same on every replica.
            lease: seconds within which a standby takes over from a leader that went silent.
            monotonic: the time source (tests pass their own).
        """
        if lease <= 0:
            raise ValueError("the leader lease must be a positive number of seconds")
        self._url = engine.url
        self._lock_engine = self._make_lock_engine(lease, self.IDLE_SETTING)
        self._key = key
        self.lease = lease
        self.beat = lease / 6
        self._trust = lease / 3
        self._monotonic = monotonic
        self._conn: Connection | None = None
        self._fd: int | None = None
        self._held = False
        self._good_at: float | None = None  # when the last good heartbeat was sent
        self._ticked_at: float | None = None
        self._busy_since: float | None = None  # a tick under way on self._fd
        self._tick_lock = threading.Lock()
        self._state = threading.Lock()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Heartbeat (or retry the lock) every `lease/6` s, with a watchdog for stuck ticks."""
        if self._threads:
            return
        self._stopping.clear()
        loop = threading.Thread(target=self._loop, name="envbot-leader", daemon=True)
        watch = threading.Thread(
            target=self._watchdog, args=(loop,), name="envbot-leader-watch", daemon=True
        )
        self._threads = [loop, watch]
        loop.start()
        watch.start()

    def is_leader(self) -> bool:
        """Whether the lock is held on a session heartbeated within `lease/3` s. Without a
        background thread (the stepped runner) this ticks itself when a beat is due."""
        if not self._threads:
            due = self._ticked_at is None or self._monotonic() - self._ticked_at >= self.beat
            if due:
                self.tick()
        with self._state:
            return self._fresh()

    def tick(self) -> None:
        """One heartbeat on the held lock, or one try to take it; never raises."""
        with self._tick_lock:
            sent = self._monotonic()
            self._ticked_at = sent
            was = self.is_fresh_holder()
            retry = self._held  # a lost session is retried at once: the lock may be free
            try:
                held = self._heartbeat() if self._held else self._try_acquire()
            except SQLAlchemyError as exc:
                logger.warning("job leader: the lock connection failed (%s)", type(exc).__name__)
                self._drop()
                held = False
                with self._state:
                    self._held = False
                if was:  # said now: a retry through a dead network can take a while
                    self._log_change(leads=False)
                    was = False
                if retry and not self._stopping.is_set():
                    sent = self._monotonic()
                    held = self._retry_acquire()
            with self._state:
                self._busy_since = None
                self._held = held
                if held:
                    self._good_at = sent
                now_leads = self._fresh()
            if now_leads != was:
                self._log_change(leads=now_leads)

    def _log_change(self, *, leads: bool) -> None:
        logger.info(
            "job leader: %s the jobs lock %s (lease %ss)",
            "took" if leads else "lost",
            self._key,
            self.lease,
            extra={"leader": leads},
        )

    def is_fresh_holder(self) -> bool:
        """`is_leader()` without ticking."""
        with self._state:
            return self._fresh()

    def close(self) -> None:
        """Stop the heartbeat, unlock and close the connection; a standby takes over at its next
        try (within `lease/6` s)."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=self._trust + self.beat)  # the watchdog cuts a stuck tick
        if any(thread.is_alive() for thread in self._threads):
            self._cut_stuck_tick(force=True)
        self._threads = []
        if not self._tick_lock.acquire(timeout=self.lease):
            logger.warning("job leader: a heartbeat is stuck; the server frees the lock")
            return
        try:
            if self._conn is not None and self._held:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                except SQLAlchemyError:
                    logger.warning("job leader: unlock failed; closing the connection frees it")
            if self._held:
                logger.info("job leader: released the jobs lock %s", self._key)
            self._drop()
            with self._state:
                self._held = False
        finally:
            self._tick_lock.release()
        self._lock_engine.dispose()

    def _fresh(self) -> bool:
        good = self._good_at
        return self._held and good is not None and self._monotonic() - good < self._trust

    def _try_acquire(self) -> bool:
        conn = self._connection()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar_one()
        return bool(got)

    def _retry_acquire(self) -> bool:
        try:
            return self._try_acquire()
        except SQLAlchemyError as exc:
            logger.warning("job leader: reconnecting failed (%s)", type(exc).__name__)
            self._drop()
            return False

    def _heartbeat(self) -> bool:
        if self._conn is None:
            return False
        self._connection()  # marks the tick busy on this socket, for the watchdog
        self._conn.execute(text("SELECT 1"))
        return True

    def _make_lock_engine(self, lease: float, idle_setting: str | None) -> Engine:
        args = lock_connect_args(lease, idle_setting)
        return create_engine(self._url, poolclass=NullPool, connect_args=args)

    def _connect(self) -> Connection:
        try:
            return self._lock_engine.connect()
        except OperationalError as exc:
            if f'unrecognized configuration parameter "{self.IDLE_SETTING}"' not in str(exc):
                raise
        logger.error(
            "job leader: this PostgreSQL has no %s (it came in 14); a leader whose host vanishes "
            "now keeps the jobs until TCP keepalives drop its session (about 2/3 of the lease on "
            "a real network). Upgrade PostgreSQL to 14 or later.",
            self.IDLE_SETTING,
        )
        self._lock_engine.dispose()
        self._lock_engine = self._make_lock_engine(self.lease, None)
        return self._lock_engine.connect()

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = self._connect().execution_options(isolation_level="AUTOCOMMIT")
            self._conn = conn
            self._fd = conn.connection.dbapi_connection.fileno()  # type: ignore[union-attr]
        with self._state:
            self._busy_since = self._monotonic()
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        with self._state:
            self._fd = None
            self._held = False
        if conn is None:
            return
        try:
            conn.close()  # NullPool: this closes the session itself, which frees any lock
        except SQLAlchemyError:
            logger.debug("job leader: closing a dead connection failed", exc_info=True)

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self.tick()
            self._stopping.wait(self.beat)

    def _watchdog(self, loop: threading.Thread) -> None:
        # Runs until the heartbeat loop has ended, so close() never waits on a dead socket.
        while loop.is_alive():
            time.sleep(self.beat / 2)
            self._cut_stuck_tick()

    def _cut_stuck_tick(self, *, force: bool = False) -> None:
        """Shut down the socket of a tick that has waited `lease/3` s for an answer (a peer that
        stopped answering without closing), so the tick fails, and the next one reconnects."""
        with self._state:
            since, fd = self._busy_since, self._fd
            if since is None or fd is None:
                return
            if not force and self._monotonic() - since < self._trust:
                return
            self._busy_since = None
            # The fd stays open while its tick is under way (only the tick closes it), so
            # this cannot hit a reused descriptor.
            try:
                with socket.socket(fileno=os.dup(fd)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                logger.debug("job leader: shutting down a stuck socket failed", exc_info=True)
                return
        logger.warning(
            "job leader: the database did not answer in %.1fs; reconnecting", self._trust
        )


def choose_leader(
    engine: Engine, key: int = JOBS_LOCK_KEY, lease: float = DEFAULT_LEASE
) -> LeaderElector:
    """The elector for the engine's database: a heartbeated advisory lock on PostgreSQL, else
    always-leader.

    Args:
        engine: the bot's engine.
        key: the advisory lock key (PostgreSQL only).
        lease: `ENVBOT_JOBS__LEADER_LEASE`, seconds (PostgreSQL only).

    Returns:
        A `PostgresAdvisoryLeader` on PostgreSQL, a `SqliteLeader` otherwise.
    """
    if engine.dialect.name == "postgresql":
        return PostgresAdvisoryLeader(engine, key, lease=lease)
    return SqliteLeader()
