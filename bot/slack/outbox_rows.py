"""What the outbox drain writes back to a row after an attempt: retry later, park, or hand the
message to the next private path (response_url → ephemeral → DM). Nothing here logs a URL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, update
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import OutboxMessage
from bot.slack.outbox_metrics import PARKED_TOTAL

logger = logging.getLogger(__name__)

#: The outbox table, for Core statements (cheaper than the ORM's bulk-update path).
OUTBOX = cast(Table, OutboxMessage.__table__)


class RowWriter:
    """Writes one row's outcome in its own transaction.

    The drain's sends run on several threads; their writes take turns on one lock, because
    SQLite lets one writer at a time and makes the others poll with growing sleeps (up to
    100 ms each), which would pace the sends instead of Slack's limits.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self.parked = 0

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A transaction that commits on leaving, one at a time in this process."""
        with self._lock, self._sessions.begin() as s:
            yield s

    def reschedule(self, row: OutboxMessage, due: datetime, error: str, *, count: bool) -> None:
        """Pending again at `due`; an attempt that `count`s not (a 429) gives its attempt back."""
        values: dict[str, Any] = {"status": "pending", "due_at": due, "last_error": error}
        if not count:
            values["attempts"] = OUTBOX.c.attempts - 1
        self._write(row, values)

    def park(self, row: OutboxMessage, attempts: int, error: str, hint: str = "") -> None:
        """Stop trying: counted and logged, kept for an operator (never dropped)."""
        logger.error(
            "outbox message %s parked after %s attempts: %s%s", row.key, attempts, error, hint
        )
        self.parked += 1
        PARKED_TOTAL.inc()
        self._write(row, {"status": "parked", "last_error": error})

    def moot(self, row: OutboxMessage, why: str) -> None:
        """Stop a row that has nothing left to do (an update of a DM copy never sent): kept as
        parked with `why`, but neither logged as an error nor counted as a failure."""
        logger.debug("outbox message %s not sent: %s", row.key, why)
        self._write(row, {"status": "parked", "last_error": why})

    def fall_back(
        self,
        row: OutboxMessage,
        kind: str,
        reason: str,
        now: datetime,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Send it again as `kind` (ephemeral in the channel, or a DM) from now on, with
        `payload` instead of the row's own if given."""
        logger.info("outbox message %s: %s; sending it as %s instead", row.key, reason, kind)
        extra = {"payload": payload} if payload is not None else {}
        self._write(
            row,
            {
                **extra,
                "kind": kind,
                "status": "pending",
                "due_at": now,
                "attempts": 0,
                "response_url": "",  # the credential is no longer needed
                "last_error": reason,
            },
        )

    def _write(self, row: OutboxMessage, values: dict[str, Any]) -> None:
        with self.writing() as s:
            s.connection().execute(update(OUTBOX).where(OUTBOX.c.id == row.id).values(**values))
