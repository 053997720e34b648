"""Durable offboarding: a deactivated user's row is committed first (`request`), then the
offboarding job (`OffboardingJob.run`) ends their grants and hands their environments over,
retrying with backoff until nothing is left.

The listener never calls Slack for it, so a `user_change` is acknowledged at once and a crash
or a Slack 429/500 midway loses nothing: the row stays due, and the next run goes on from where
the last one stopped. Every step is idempotent (a grant already ended, an environment already
handed over, a DM already queued under its key are skipped), so a run repeated after a crash
does each thing once.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.access.jobs import AccessJobs
from bot.db.models import Offboarding
from bot.domain.clock import Clock
from bot.environments.service import EnvironmentService
from bot.lifecycle.audit import record
from bot.lifecycle.moves import SYSTEM

logger = logging.getLogger(__name__)

#: The first retry waits this long; each later one twice as long, up to `MAX_BACKOFF`.
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(minutes=30)
#: Users worked off per run (the rest wait for the next run, which comes at once on a wake).
BATCH = 50


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th run that left something undone."""
    doublings = max(0, min(attempts - 1, 16))
    return min(FIRST_BACKOFF * (1 << doublings), MAX_BACKOFF)


def request(s: Session, user_id: str, now: datetime) -> bool:
    """Commit (in `s`) that `user_id` is to be offboarded; False if it already is under way.
    A user offboarded before (reactivated since) is offboarded again."""
    row = s.get(Offboarding, user_id, with_for_update=True)
    if row is not None and row.done_at is None:
        return False
    if row is None:
        s.add(Offboarding(user_id=user_id, requested_at=now, due_at=now, attempts=0, last_error=""))
    else:
        row.requested_at, row.due_at, row.done_at = now, now, None
        row.attempts, row.last_error = 0, ""
    _audit(s, user_id, "offboard-requested", now)
    return True


class OffboardingJob:
    """Works off the due offboardings: grants first, then environments, one user at a time."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        grants: AccessJobs,
        envs: EnvironmentService,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.grants = grants
        self.envs = envs

    def run(self) -> int:
        """Offboard every due user; returns how many are done."""
        now = self.clock.now()
        with self.sessions() as s:
            users = s.scalars(
                select(Offboarding.user_id)
                .where(Offboarding.due_at <= now)
                .order_by(Offboarding.due_at)
                .limit(BATCH)
            ).all()
        return sum(self._one(user_id) for user_id in users)

    def next_due(self, now: datetime) -> datetime | None:
        """When `run` next has work: the earliest due offboarding."""
        with self.sessions() as s:
            # MIN skips the done rows (due_at NULL), which ORDER BY would put first on SQLite
            due = s.scalar(select(func.min(Offboarding.due_at)))
            return max(due, now) if due is not None else None

    def _one(self, user_id: str) -> bool:
        try:
            self.grants.offboard(user_id)
            left = self.envs.offboard(user_id)
        except Exception as exc:  # one user's failure must not stop the others' offboarding
            logger.exception("offboarding %s failed; it is tried again later", user_id)
            left = [f"{type(exc).__name__}: {exc}"]
        now = self.clock.now()
        with self.sessions.begin() as s:
            row = s.get(Offboarding, user_id, with_for_update=True)
            if row is None or row.done_at is not None:
                return False
            if left:
                row.attempts += 1
                row.due_at = now + backoff(row.attempts)
                row.last_error = "; ".join(left)[:2000]
                _audit(s, user_id, "offboard-retry", now, left=left[:20], attempt=row.attempts)
                return False
            row.done_at, row.due_at = now, None
            _audit(s, user_id, "offboarded", now, attempts=row.attempts + 1)
            return True


def _audit(s: Session, user_id: str, action: str, now: datetime, **detail: Any) -> None:
    record(
        s,
        at=now,
        actor=SYSTEM,
        object_type="user",
        object_id=user_id[:16],
        action=action,
        **detail,
    )
