"""The inbox batch on SQLite: a fixed number of statements (and steps) whatever the batch's size.

sqlite3 gives up the GIL around every prepare and every step, and under a burst of acks each
give-up can cost a wait of up to the switch interval (5 ms) to take it back from the threads
that ran meanwhile. An `executemany` of the rows steps once a row, and SQLAlchemy's multi-row
`INSERT … RETURNING` of the keys once a key; here the rows go in one `INSERT … SELECT … FROM
(VALUES …)` whose `RETURNING` names only the keys that were new (few steps: one a new key),
and the keys in one `INSERT OR IGNORE`, both in the one transaction (opened by the first
`INSERT`, under the process's write turn, `bot.db.sqlite_writer`), so the check for a key
already recorded and the insert see the same database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Table

from bot.db.models import InboxRow

if TYPE_CHECKING:
    from bot.services.inbox_batch import Claimed

_ROWS = cast(Table, InboxRow.__table__)
#: Rows per statement (4 parameters a row, far below SQLite's limit on parameters).
CHUNK = 100


_ROWS_SQL = (
    "INSERT INTO inbox (key, kind, body, received_at, claimed_until, run_id, attempts) "
    "SELECT b.column1, b.column2, b.column3, ?, ?, b.column4, 1 FROM (VALUES {values}) AS b "
    "WHERE b.column1 NOT IN (SELECT key FROM inbound) RETURNING key"
)
_KEYS_SQL = "INSERT OR IGNORE INTO inbound (key, received_at) VALUES {values}"


@cache
def _rows_sql(n: int) -> str:
    # only placeholders are repeated into the text: every value is a bound parameter
    return _ROWS_SQL.format(values=",".join(["(?,?,?,?)"] * n))


@cache
def _keys_sql(n: int) -> str:
    return _KEYS_SQL.format(values=",".join(["(?,?)"] * n))


def _processor(conn: Connection, column: str) -> Callable[[Any], Any]:
    dialect = conn.dialect
    # the dialect's own type: the column's conversion, then SQLite's storage format (the
    # sqlite3 module's default would write "09:30:06" where SQLAlchemy writes "09:30:06.000000",
    # and SQLite compares them as text)
    process = _ROWS.c[column].type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda value: value)


def write_sqlite(
    conn: Connection, now: datetime, lease: timedelta, claims: dict[str, Claimed]
) -> set[str]:
    """Record `claims` (distinct keys) in `conn`'s transaction; the keys that were new."""
    when = _processor(conn, "received_at")
    body = _processor(conn, "body")
    at, until = when(now), when(now + lease)
    items = list(claims.values())
    added: set[str] = set()
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        params: list[Any] = [at, until]
        for c in chunk:
            params += [c.key, c.kind, body(c.body), c.run_id]
        added.update(conn.exec_driver_sql(_rows_sql(len(chunk)), tuple(params)).scalars())
    new = [key for key in claims if key in added]
    for start in range(0, len(new), CHUNK):
        keys = new[start : start + CHUNK]
        pairs = tuple(value for key in keys for value in (key, at))
        conn.exec_driver_sql(_keys_sql(len(keys)), pairs)
    return added
