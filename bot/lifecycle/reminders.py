"""Reminders before anything expires, for every workflow: thresholds, quiet hours, once each.

A reminder is a DM whose outbox key names the object, its expiry time and the threshold, so
it is sent at most once per threshold for a given expiry, and an extension (a new expiry)
re-arms the thresholds. Only thresholds below the lifetime left when the object became active
or was last extended are armed (`armed.py`): a 2 h grant gets no "ends in 24 h" DM, and an
extension is not followed at once by a reminder for a threshold it already passed. The job
decides at each run, from current state, so nothing is sent for what was deleted, revoked or
extended meanwhile, even while quiet hours hold it back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Generic, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.errors import TemporaryError
from bot.lifecycle.armed import armed_since, armed_thresholds
from bot.lifecycle.context import Context, UseCases
from bot.lifecycle.render import reminder_message, time_left
from bot.lifecycle.workflow import T, Workflow
from bot.slack.blocks import ActionId, Message

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reminders(Generic[T]):
    """What a workflow reminds its objects' holders of: those in `state` whose expiry nears.

    Attributes:
        text: (object, time left, end in the owner's zone) -> what the DM says.
        step: how much the Extend button adds.
        end: the label and action of the button that ends it now.
    """

    workflow: Workflow[T]
    state: str
    text: Callable[[T, str, str], str]
    step: Callable[[T], timedelta]
    end: tuple[str, ActionId]

    def due(self, s: Session, now: datetime, horizon: datetime) -> list[Reminder]:
        """Every object of this workflow whose expiry falls in (now, horizon]."""
        model: Any = self.workflow.model
        rows = s.scalars(
            select(model).where(
                model.state == self.state, model.expires_at <= horizon, model.expires_at > now
            )
        ).all()
        armed = armed_since(s, self.workflow.kind, self.state, [obj.id for obj in rows])
        return [
            Reminder(self, obj, obj.holder_id, obj.expires_at, armed.get(obj.id)) for obj in rows
        ]

    def first_expiry_after(self, s: Session, after: datetime) -> datetime | None:
        """The earliest expiry later than `after` among this workflow's objects in `state`."""
        model: Any = self.workflow.model
        first: datetime | None = s.scalar(
            select(func.min(model.expires_at)).where(
                model.state == self.state, model.expires_at > after
            )
        )
        return first


@dataclass(frozen=True)
class Reminder:
    """One object whose reminder may be due now."""

    source: Reminders[Any]
    obj: Any
    user_id: str
    expires_at: datetime
    armed_at: datetime | None = None  # when its current lifetime began (None: not known)

    def message(self, left: str, when: str) -> Message:
        src = self.source
        text = src.text(self.obj, left, when)
        return reminder_message(
            text, src.workflow.kind, self.obj.id, self.obj.label, src.step(self.obj), src.end
        )

    @property
    def key(self) -> str:
        return f"remind:{self.source.workflow.kind}:{self.obj.id}:{self.expires_at.isoformat()}"


class ReminderSource(Protocol):
    def due(self, s: Session, now: datetime, horizon: datetime) -> list[Reminder]: ...

    def first_expiry_after(self, s: Session, after: datetime) -> datetime | None: ...


class ReminderJob(UseCases):
    """The reminders job: one indexed query per workflow for what expires within the top
    threshold, then one DM per crossed threshold."""

    def __init__(self, ctx: Context, sources: Sequence[ReminderSource]) -> None:
        super().__init__(ctx)
        self.sources = tuple(sources)
        self.thresholds = tuple(sorted(ctx.policy.reminders.before))  # smallest first

    def run(self) -> int:
        """Queue every reminder that is due now; returns how many were queued."""
        if not self.thresholds:
            return 0
        now = self.clock.now()
        horizon = now + self.thresholds[-1]
        with self.sessions() as s:
            due = [r for source in self.sources for r in source.due(s, now, horizon)]
        return sum(self._try(r, now) for r in due)

    def _try(self, reminder: Reminder, now: datetime) -> int:
        """One reminder; if Slack cannot say the owner's time zone now, skip it (it stays
        due, so a later pass sends it) and go on with the others."""
        try:
            return self._maybe(reminder, now)
        except TemporaryError as exc:
            logger.warning(
                "reminder %s for %s skipped until a later pass: %s",
                reminder.key,
                reminder.user_id,
                exc,
            )
            return 0

    def next_due(self, now: datetime) -> datetime | None:
        """When `run` next has work: the next moment an expiry comes within a threshold, or
        for a threshold already crossed whose reminder is not queued yet, now (or when the
        owner's quiet hours end, if they hold it back)."""
        if not self.thresholds:
            return None
        horizon = now + self.thresholds[-1]
        with self.sessions() as s:
            crossings = [
                first - t
                for source in self.sources
                for t in self.thresholds
                if (first := source.first_expiry_after(s, now + t)) is not None
            ]
            held = [
                self._held_until(s, r, now)
                for source in self.sources
                for r in source.due(s, now, horizon)
            ]
        return min((d for d in (*crossings, *held) if d is not None), default=None)

    def _held_until(self, s: Session, reminder: Reminder, now: datetime) -> datetime | None:
        threshold = self._crossed(reminder, now)
        if threshold is None or self.notifier.dm_queued(
            s, user_id=reminder.user_id, key=self._key(reminder, threshold)
        ):
            return None
        try:
            tz = self._tz(reminder.user_id)
        except TemporaryError:
            return now  # still due: the next pass tries the lookup again
        return self._quiet_end(now, tz) if self._quiet(now, reminder.expires_at, tz) else now

    def _crossed(self, reminder: Reminder, now: datetime) -> timedelta | None:
        """The nearest armed threshold crossed by now; larger ones missed in between are moot."""
        armed = armed_thresholds(self.thresholds, reminder.expires_at, reminder.armed_at)
        return next((t for t in armed if reminder.expires_at - t <= now), None)

    @staticmethod
    def _key(reminder: Reminder, threshold: timedelta) -> str:
        return f"{reminder.key}:{int(threshold.total_seconds())}"

    def _maybe(self, reminder: Reminder, now: datetime) -> int:
        threshold = self._crossed(reminder, now)
        if threshold is None:
            return 0
        tz = self._tz(reminder.user_id)
        if self._quiet(now, reminder.expires_at, tz):
            return 0
        left = time_left(reminder.expires_at - now)
        when = f"{reminder.expires_at.astimezone(tz):%a %d %b %H:%M} ({tz.key})"
        key = self._key(reminder, threshold)
        with self.sessions.begin() as s:
            self.notifier.dm(
                s, now=now, user_id=reminder.user_id, key=key, message=reminder.message(left, when)
            )
        return 1

    def _tz(self, user_id: str) -> ZoneInfo:
        try:
            return ZoneInfo(self.directory.user(user_id).tz or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def _quiet(self, now: datetime, expires_at: datetime, tz: ZoneInfo) -> bool:
        """In quiet hours, and waiting for them to end would still be in time."""
        quiet = self.policy.reminders.quiet_hours
        if quiet is None:
            return False
        local = now.astimezone(tz)
        start, end = quiet.start, quiet.end
        inside = (
            (start <= local.time() < end)
            if start < end
            else (local.time() >= start or local.time() < end)
        )
        if not inside:
            return False
        return _next_local(local, end) < expires_at

    def _quiet_end(self, now: datetime, tz: ZoneInfo) -> datetime | None:
        """When the quiet hours under way at `now` end, in UTC. On a day the clocks change at
        that hour, the earlier reading of the local time is taken: early is safe, late is not."""
        quiet = self.policy.reminders.quiet_hours
        if quiet is None:
            return None
        end = _next_local(now.astimezone(tz), quiet.end)
        return min(end.replace(fold=fold).astimezone(UTC) for fold in (0, 1))


def _next_local(local: datetime, at: time) -> datetime:
    """The next moment (after `local`) the wall clock in local's zone shows `at`."""
    candidate = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate
