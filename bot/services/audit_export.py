"""`envbot audit export`: the audit trail since a time, as CSV or JSON lines, oldest first."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Event

FIELDS = ("at", "actor", "object_type", "object_id", "action", "from_state", "to_state", "detail")


def events_since(sessions: sessionmaker[Session], since: datetime) -> Iterator[dict[str, str]]:
    """Every audit event at or after `since`, streamed in pages (indexed on `at`)."""
    last_id = 0
    while True:
        with sessions() as s:
            page = s.scalars(
                select(Event)
                .where(Event.at >= since, Event.id > last_id)
                .order_by(Event.id)
                .limit(1000)
            ).all()
        if not page:
            return
        for e in page:
            yield {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "object_type": e.object_type,
                "object_id": e.object_id,
                "action": e.action,
                "from_state": e.from_state,
                "to_state": e.to_state,
                "detail": json.dumps(e.detail, sort_keys=True),
            }
        last_id = page[-1].id


def export(sessions: sessionmaker[Session], since: datetime, fmt: str, out: TextIO) -> int:
    """Write the events to `out` as `csv` (with a header) or `json` (one object per line)."""
    count = 0
    writer = csv.DictWriter(out, fieldnames=FIELDS) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    for row in events_since(sessions, since):
        if writer is not None:
            writer.writerow(row)
        else:
            out.write(json.dumps({**row, "detail": json.loads(row["detail"])}) + "\n")
        count += 1
    return count
