"""A batch's changed versioned rows written as one executemany UPDATE per set of columns.

The ORM writes a row that has a version column (`version_id_col`) with an UPDATE of its own,
one round trip each, so that it can check each row's count. A batch has its rows locked, and
writes them together here instead: rows that changed the same columns share one UPDATE ...
WHERE id = ? AND version = ?, sent as one executemany (psycopg pipelines it), with the
version moved on as the ORM would. The total count is checked, as the ORM checks each row's.
The objects then hold what was written and leave the session (`expunge`), so its flush does
not look at them again (it would compare every attribute of each to find nothing to send).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Table, bindparam, inspect
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

Group = tuple[Mapper[Any], tuple[str, ...]]


def write_versioned(s: Session) -> int:
    """Write the session's changed rows that have a version column and only changed plain
    columns; returns how many rows were written. Anything else is left to the ORM's flush.

    Raises:
        StaleDataError: a row's version moved on since it was read (as the ORM's flush would).
    """
    groups: dict[Group, list[Any]] = {}
    for obj in s.dirty:
        mapper = inspect(obj).mapper
        keys = changed(obj)
        if not keys or not _plain(mapper, keys) or mapper.version_id_col is None:
            continue
        groups.setdefault((mapper, keys), []).append(obj)
    written = 0
    for (mapper, keys), objs in groups.items():
        written += _update(s, mapper, keys, objs)
    return written


def changed(obj: Any) -> tuple[str, ...]:
    """The attributes of `obj` set to a value other than the one loaded, sorted (what the
    ORM's flush would write; cheaper than `Session.is_modified`, which walks every attribute)."""
    state = inspect(obj)
    loaded = state.dict
    return tuple(sorted(k for k, old in state.committed_state.items() if old != loaded.get(k)))


def _plain(mapper: Mapper[Any], keys: tuple[str, ...]) -> bool:
    """Whether `keys` are all single-column attributes of `mapper`'s one table, none of them
    its primary key or version."""
    columns = mapper.column_attrs
    fixed = {*mapper.primary_key, mapper.version_id_col}
    return len(mapper.tables) == 1 and all(
        k in columns and len(columns[k].columns) == 1 and columns[k].columns[0] not in fixed
        for k in keys
    )


def _update(s: Session, mapper: Mapper[Any], keys: tuple[str, ...], objs: list[Any]) -> int:
    table: Table = mapper.local_table  # type: ignore[assignment]  # one table (`_plain`)
    (pk,) = mapper.primary_key
    version: Column[Any] = mapper.version_id_col  # type: ignore[assignment]
    columns = {k: mapper.column_attrs[k].columns[0] for k in keys}
    statement = (
        table.update()
        .where(pk == bindparam("_pk", type_=pk.type))
        .where(version == bindparam("_version", type_=version.type))
        .values(
            {c: bindparam(f"_c_{k}", type_=c.type) for k, c in columns.items()}
            | {version: bindparam("_next", type_=version.type)}
        )
    )
    pk_key = mapper.get_property_by_column(pk).key
    version_key = mapper.get_property_by_column(version).key
    rows: list[dict[str, Any]] = []
    for obj in objs:
        values = inspect(obj).dict
        current = values[version_key]
        row = {"_pk": values[pk_key], "_version": current, "_next": current + 1}
        rows.append(row | {f"_c_{k}": values[k] for k in keys})
    result = s.connection().execute(statement, rows)
    # psycopg and sqlite3 both sum an executemany's counts; -1 would mean the driver cannot say
    count: int = result.rowcount
    if count not in (-1, len(rows)):
        raise StaleDataError(
            f"{table.name}: {len(rows)} rows to update, {count} matched their version"
        )
    for obj, row in zip(objs, rows, strict=True):
        for k in keys:
            set_committed_value(obj, k, row[f"_c_{k}"])
        set_committed_value(obj, version_key, row["_next"])
        s.expunge(obj)
    return len(rows)
