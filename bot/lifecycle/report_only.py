"""Report-only mode (`report_only: true` in the policy, like kube-janitor's --dry-run): expiry
says in the object's thread what it would delete, audits that, and deletes nothing.

The object keeps its state (an environment stays READY, a grant ACTIVE). Each expiry is
reported once: the `report_only` audit row is the marker, and a row at or after the object's
`expires_at` means this expiry was told. An extension moves `expires_at` past the old row, so
the next expiry is reported again. Turning report_only off lets the normal expiry pick up every
object past its expiry on the next pass.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Event
from bot.lifecycle.moves import SYSTEM, Lifecycle
from bot.lifecycle.workflow import T

ACTION = "report_only"


def unreported(kind: str, model: Any) -> ColumnElement[bool]:
    """Rows of `model` whose current expiry has no report-only audit row yet."""
    return ~exists().where(
        Event.object_type == kind,
        Event.object_id == model.id,
        Event.action == ACTION,
        Event.at >= model.expires_at,
    )


def report_expired(
    sessions: sessionmaker[Session],
    life: Lifecycle[T],
    now: datetime,
    due: ColumnElement[bool],
    still_due: Callable[[T], bool],
    text: Callable[[T], tuple[str, str]],
) -> int:
    """Report every object that matches `due` and whose expiry was not reported yet.

    Args:
        due: what the normal expiry would pick (state and `expires_at <= now`).
        still_due: the same test on the locked row (it may have moved on meanwhile).
        text: (what would be deleted, in a few words for the audit row; the thread's text).

    Returns:
        How many objects were reported in this pass.
    """
    model = life.workflow.model
    kind = life.workflow.kind
    with sessions() as s:
        ids = s.scalars(select(model.id).where(due, unreported(kind, model))).all()
    told = 0
    for obj_id in ids:
        with sessions.begin() as s:
            obj = s.get(model, obj_id, with_for_update=True)
            if obj is None or not still_due(obj):
                continue
            stamp = obj.expires_at  # type: ignore[attr-defined]
            if not s.scalar(select(unreported(kind, model)).where(model.id == obj_id)):
                continue  # another replica told it since the query above
            would, message = text(obj)
            life.audit(s, obj, ACTION, SYSTEM, now, expires_at=stamp.isoformat(), would=would)
            life.thread(s, obj, f"report-only:{stamp:%Y%m%dT%H%M%S}", now, message)
            told += 1
    return told
