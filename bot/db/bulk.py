"""Writes a batch makes together: audit and outbox rows held until the batch's end, then one
multi-row INSERT per table, instead of one statement per row.

A batch (`bot.lifecycle.batch`) opens a `Pending` on its session; code that writes asks
`pending(s)` and hands its write over when there is one, else writes at once. At the end the
batch writes its changed versioned rows (`bot.db.versioned`, one executemany per set of
columns) and flushes the rest of the ORM's changes, runs the deferred statements (a `Together`
as one statement for all its items, any other as one executemany), then the inserts (one
executemany per table). Any failure rolls the whole batch back; the batch
then runs again item by item.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Executable, Table, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.db.versioned import write_versioned

KEY = "envbot.bulk"


@dataclass(frozen=True)
class Together:
    """A statement each item of a batch asks for, run once for all of them: `many` builds
    the one statement from the list of every item's parameters."""

    many: Callable[[Sequence[dict[str, Any]]], Executable]


@dataclass
class Pending:
    """Statements and rows to run at the batch's end, in order (`unique` tables skip a row
    whose unique key is already taken, as ON CONFLICT DO NOTHING)."""

    rows: list[tuple[Table, bool, dict[str, Any]]] = field(default_factory=list)
    tags: set[object] = field(default_factory=set)  # what `drop` may be asked about
    later: list[tuple[Executable | Together, dict[str, Any]]] = field(default_factory=list)

    def add(
        self, table: Table, row: dict[str, Any], *, unique: bool = False, tag: object = None
    ) -> None:
        self.rows.append((table, unique, row))
        if tag is not None:
            self.tags.add(tag)

    def run_later(self, statement: Executable | Together, params: dict[str, Any]) -> None:
        """Run `statement` with `params` at the end, before the inserts (for example the
        delete of what a held row replaces)."""
        self.later.append((statement, params))

    def drop(self, tag: object, keep: Callable[[Table, dict[str, Any]], bool]) -> None:
        """Forget the held rows `keep` says no to (a newer row replaces them), if any row was
        added with `tag`."""
        if tag in self.tags:
            self.rows = [r for r in self.rows if keep(r[0], r[2])]

    def flush(self, s: Session) -> None:
        """Write the ORM's changes, run the deferred statements, insert the rows; start empty."""
        write_versioned(s)
        s.flush()
        statements: dict[int, tuple[Executable | Together, list[dict[str, Any]]]] = {}
        for statement, params in self.later:
            statements.setdefault(id(statement), (statement, []))[1].append(params)
        tables: dict[tuple[str, bool], tuple[Table, list[dict[str, Any]]]] = {}
        for table, unique, row in self.rows:
            tables.setdefault((table.name, unique), (table, []))[1].append(row)
        self.rows, self.later = [], []
        self.tags.clear()
        for statement, many in statements.values():
            if isinstance(statement, Together):
                s.execute(statement.many(many))
            else:
                s.execute(statement, many)
        for (_, unique), (table, rows) in tables.items():
            # an executemany, which psycopg pipelines: measured faster than multi-row VALUES,
            # whose long statements psycopg parses again on every call
            s.execute(upsert(s, table) if unique else insert(table), rows)


def upsert(s: Session, table: Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the session's database."""
    dialect = s.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table).on_conflict_do_nothing()


def pending(s: Session) -> Pending | None:
    """The batch's pending writes, when `s` is a batch's session."""
    found: Pending | None = s.info.get(KEY)
    return found


def open_pending(s: Session) -> Pending:
    """Hold writes on `s` until `flush` (a batch's transaction)."""
    held = Pending()
    s.info[KEY] = held
    return held


def close_pending(s: Session) -> None:
    s.info.pop(KEY, None)
