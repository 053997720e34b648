"""Due items in batches: one transaction per batch, each item's effects all-or-nothing.

A job pass that finds a thousand objects due must not pay a thousand commits. Each batch is
one transaction: the rows are locked together (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
another replica's pass takes the others; `BEGIN IMMEDIATE` on SQLite, its single write lock),
and its writes are held (`bot.db.bulk`) and sent together at the end. If anything in the
batch fails, it is rolled back whole and run again with a savepoint per item, so a failing
item is rolled back and logged alone while the rest commit: each item's effects are
all-or-nothing, and one item never loses the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.bulk import close_pending, open_pending

logger = logging.getLogger(__name__)

BATCH = 200  # items per transaction
BULK = True  # False: every batch writes item by item (bench/sweeps.py's baseline)
Item = TypeVar("Item")


@contextmanager
def batch_transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One write transaction that savepoints nest in: on SQLite it starts with BEGIN
    IMMEDIATE (pysqlite would otherwise let the first SAVEPOINT open, and its RELEASE commit,
    the transaction), which also takes the database's one write lock before reading."""
    with sessions.begin() as s:
        conn = s.connection()
        if conn.dialect.name == "sqlite" and not conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield s


def chunks(ids: Sequence[str], size: int = BATCH) -> Iterator[Sequence[str]]:
    """`ids` in slices of at most `size`."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def locked_rows(s: Session, model: Any, ids: Sequence[str]) -> list[Any]:
    """The rows of `ids` this transaction could lock, in id order; rows another transaction
    holds are skipped (PostgreSQL), so two passes never wait on each other."""
    query = select(model).where(model.id.in_(ids)).order_by(model.id)
    return list(s.scalars(query.with_for_update(skip_locked=True)).all())


def each_in_savepoint(
    s: Session, items: Sequence[Item], work: Callable[[Session, Item], bool], what: str
) -> int:
    """Run `work` on each item in a savepoint of its own; an item that raises is rolled back
    and logged, and the others go on. Returns how many items' `work` returned True."""
    done = 0
    for item in items:
        try:
            with s.begin_nested():
                done += bool(work(s, item))
        except Exception:  # one item's failure must not lose the batch
            logger.exception("%s: one item failed and was rolled back; a later pass retries", what)
    return done


class _ItemByItem(Exception):
    """The bulk path is off (BULK)."""


def sweep_chunk(
    sessions: sessionmaker[Session],
    model: Any,
    ids: Sequence[str],
    work: Callable[[Session, Any], bool],
    what: str,
) -> int:
    """One batch, fast: lock the rows, `work` each, then write everything together (the
    rows' UPDATEs as one executemany, the audit and outbox rows as one INSERT per table).
    Should anything fail, the batch is rolled back and run again item by item, each in a
    savepoint writing as it goes, so a failing item costs only itself."""
    try:
        if not BULK:
            raise _ItemByItem
        with batch_transaction(sessions) as s:
            held = open_pending(s)
            try:
                done = sum(bool(work(s, row)) for row in locked_rows(s, model, ids))
                held.flush(s)
            finally:
                close_pending(s)
            return done
    except _ItemByItem:
        pass
    except Exception:  # rolled back: nothing of the batch was written
        logger.warning("%s: the batch failed; running it item by item", what, exc_info=True)
    with batch_transaction(sessions) as s:
        return each_in_savepoint(s, locked_rows(s, model, ids), work, what)
