"""Which reminder thresholds are armed: those below the lifetime left when it last began.

An object's current lifetime begins when it becomes active (READY, ACTIVE) and again at each
extension; both are in the audit trail. A threshold at or above the time left at that moment
would fire at once ("ends in 24h" on a 2 h grant, or right after an extend), so it is not armed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from bot.db.models import Event


def armed_since(s: Session, kind: str, state: str, ids: Sequence[str]) -> dict[str, datetime]:
    """For each object id, when its current lifetime began: its last move into `state` or its
    last extension, whichever is later (ids with neither in the trail are left out)."""
    if not ids:
        return {}
    began = or_(Event.action == "extend", and_(Event.to_state == state, Event.from_state != state))
    rows = s.execute(
        select(Event.object_id, func.max(Event.at))
        .where(Event.object_type == kind, Event.object_id.in_(list(ids)), began)
        .group_by(Event.object_id)
    ).all()
    return {object_id: at for object_id, at in rows}


def armed_thresholds(
    thresholds: Sequence[timedelta], expires_at: datetime, armed_at: datetime | None
) -> list[timedelta]:
    """The thresholds (smallest first) below the lifetime left at `armed_at`; all when unknown."""
    if armed_at is None:
        return list(thresholds)
    lifetime = expires_at - armed_at
    return [t for t in thresholds if t < lifetime]
