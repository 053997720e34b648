"""When a job next has work, from cheap indexed queries: the kernel's helpers for `next_due`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker


def earliest(
    sessions: sessionmaker[Session],
    column: InstrumentedAttribute[Any],
    *where: ColumnElement[bool],
) -> datetime | None:
    """The smallest `column` among the rows that match `where` (None when none does)."""
    with sessions() as s:
        found: datetime | None = s.scalar(select(func.min(column)).where(*where))
    return found


def now_if_any(
    sessions: sessionmaker[Session],
    model: Any,
    now: datetime,
    *conditions: ColumnElement[bool],
) -> datetime | None:
    """`now` when some row of `model` matches any of `conditions` (work waits), else None."""
    with sessions() as s:
        found = s.scalar(select(model.id).where(or_(*conditions)).limit(1))
    return now if found is not None else None
