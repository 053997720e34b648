"""SQLite writers of one process take turns on a Python lock (`bot.db.sqlite_writer`): a second
writer waits for the first's commit or rollback and goes on at once, a failed statement gives
the turn back, and a thread that writes on two connections is not made to wait for itself."""

from __future__ import annotations

import gc
import sqlite3
import threading
from pathlib import Path

import pytest

from bot.db.sqlite_writer import WriterConnection, lock_for


def _connect(path: Path, timeout: float = 5.0) -> WriterConnection:
    conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False, factory=WriterConnection)
    assert isinstance(conn, WriterConnection)
    return conn


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    return path


def _write_in_thread(conn: WriterConnection, key: str) -> tuple[threading.Thread, threading.Event]:
    """Start a thread that inserts `key` and commits; the event is set when it has committed."""
    done = threading.Event()

    def write() -> None:
        try:
            conn.execute("INSERT INTO t VALUES (?)", (key,))
            conn.commit()
            done.set()
        except sqlite3.OperationalError:
            pass  # the test sees `done` unset

    thread = threading.Thread(target=write)
    thread.start()
    return thread, done


@pytest.mark.parametrize(
    ("opening", "end"),
    [("INSERT", "commit"), ("INSERT", "rollback"), ("BEGIN IMMEDIATE", "commit")],
)
def test_a_second_writer_waits_for_the_first_transaction_to_end(
    db: Path, opening: str, end: str
) -> None:
    # setup: the first connection holds an open write transaction; the second's own SQLite
    # busy timeout is short, so only the Python lock can make it wait longer than that
    first, second = _connect(db), _connect(db, timeout=0.01)
    if opening == "BEGIN IMMEDIATE":
        first.execute("BEGIN IMMEDIATE")
    first.execute("INSERT INTO t VALUES ('a')")
    lock = lock_for(str(db))
    assert lock is not None

    # execution: a second connection writes from another thread
    thread, done = _write_in_thread(second, "b")

    # validating: it waits on the Python lock (SQLite alone would have said "locked" after
    # 10 ms) and writes once the first transaction has ended
    assert not done.wait(0.2)
    assert thread.is_alive()
    getattr(first, end)()
    thread.join(10)
    assert done.is_set()
    rows = {r[0] for r in second.execute("SELECT k FROM t")}
    assert rows == ({"a", "b"} if end == "commit" else {"b"})


def test_a_failed_statement_gives_the_turn_back(db: Path) -> None:
    # setup: a statement that fails before any transaction is open
    first, second = _connect(db), _connect(db)
    with pytest.raises(sqlite3.OperationalError):
        first.execute("INSERT INTO no_such_table VALUES (1)")

    # execution: another thread writes
    thread, done = _write_in_thread(second, "c")
    thread.join(10)

    # validating
    assert done.is_set()
    assert not first.in_transaction


def test_a_thread_writing_on_two_connections_meets_sqlites_lock_not_its_own(db: Path) -> None:
    # setup: this thread holds a write transaction on one connection
    first, second = _connect(db), _connect(db, timeout=0.05)
    first.execute("INSERT INTO t VALUES ('d')")

    # execution + validating: its second connection goes on to SQLite, whose busy timeout
    # answers (as it did before the lock), instead of waiting forever for its own thread
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        second.execute("INSERT INTO t VALUES ('e')")
    first.commit()
    second.execute("INSERT INTO t VALUES ('e')")
    second.commit()


def test_a_connection_dropped_in_a_transaction_gives_the_turn_back(db: Path) -> None:
    # setup: a connection holds a write transaction, then is dropped without close()
    first = _connect(db)
    first.execute("INSERT INTO t VALUES ('f')")
    lock = lock_for(str(db))
    assert lock is not None
    assert lock._owner is not None

    # execution
    del first
    gc.collect()

    # validating: the turn is free (SQLite ended the transaction as the connection was freed)
    assert lock._owner is None


def test_in_memory_databases_share_no_lock() -> None:
    assert lock_for(":memory:") is None
    assert lock_for("file:x?mode=memory&cache=shared") is None
