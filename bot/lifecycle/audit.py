"""Appends rows to the `events` audit trail inside the caller's transaction."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.db.bulk import pending
from bot.db.models import Event

logger = logging.getLogger(__name__)


def record(
    s: Session,
    *,
    at: datetime,
    actor: str,
    object_type: str,
    object_id: str,
    action: str,
    from_state: str = "",
    to_state: str = "",
    **detail: Any,
) -> None:
    """Add one audit event; it commits (or rolls back) with the state change it describes."""
    row = {
        "at": at,
        "actor": actor,
        "object_type": object_type,
        "object_id": object_id,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "detail": detail,
    }
    held = pending(s)
    if held is not None:  # a batch: inserted with the others at its end
        held.add(Event.__table__, row)  # type: ignore[arg-type]
    else:
        s.add(Event(**row))
    logger.info(
        "%s %s %s: %s -> %s",
        object_type,
        object_id,
        action,
        from_state or "-",
        to_state or "-",
        extra={"actor": actor, "state_from": from_state, "state_to": to_state},
    )
