"""Reminders before anything expires, for every workflow: thresholds, quiet hours, once each.

A reminder is a DM whose outbox key names the object, its expiry time and the threshold, so
it is sent at most once per threshold for a given expiry, and an extension (a new expiry)
re-arms the thresholds. Only thresholds below the lifetime left when the object became active
or was last extended are armed (`armed.py`): a 2 h grant gets no "ends in 24 h" DM, and an
extension is not followed at once by a reminder for a threshold it already passed. The job
decides at each run, from current state, so nothing is sent for what was deleted, revoked or
extended meanwhile, even while quiet hours hold it back.

Each object's `remind_at` says when the job next has something to do for it: the next armed
threshold crossing, the end of quiet hours, or None once its last reminder is queued. Every
change of `expires_at` sets it to a moment in the past (`REMIND_NOW`), so a pass reads only the
objects with something due (one indexed range on state and `remind_at`): an object already
reminded costs nothing, however many there are within the horizon.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Generic, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from bot.errors import TemporaryError
from bot.lifecycle.armed import armed_since, armed_thresholds
from bot.lifecycle.batch import batch_transaction, each_in_savepoint
from bot.lifecycle.context import Context, UseCases
from bot.lifecycle.render import reminder_message, time_left
from bot.lifecycle.workflow import T, Workflow
from bot.slack.acted import slack_time
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

    def due(self, s: Session, now: datetime, limit: int) -> list[Reminder]:
        """Up to `limit` objects in `state` with something due by `now` (their `remind_at`)."""
        model: Any = self.workflow.model
        rows = s.scalars(
            select(model)
            .where(model.state == self.state, model.remind_at <= now)
            .order_by(model.remind_at)
            .limit(limit)
        ).all()
        armed = armed_since(s, self.workflow.kind, self.state, [obj.id for obj in rows])
        return [
            Reminder(self, obj, obj.holder_id, obj.expires_at, armed.get(obj.id)) for obj in rows
        ]

    def first_due(self, s: Session) -> datetime | None:
        """The earliest `remind_at` among this workflow's objects in `state`."""
        model: Any = self.workflow.model
        first: datetime | None = s.scalar(
            select(func.min(model.remind_at)).where(model.state == self.state)
        )
        return first

    def set_remind_at(self, s: Session, plans: Sequence[Plan]) -> int:
        """Store each plan's next `remind_at`, unless the object's expiry or state changed
        since it was read (that change re-armed it). One statement run for all the plans;
        returns how many rows took it when there is one plan (the driver may not say for many).
        """
        if not plans:
            return 0
        table: Any = self.workflow.model.__table__  # type: ignore[attr-defined]
        statement = (
            update(table)
            .where(
                table.c.id == bindparam("_id"),
                table.c.state == self.state,
                table.c.expires_at == bindparam("_expires_at"),
            )
            .values(remind_at=bindparam("_remind_at"))
        )
        rows = [
            {
                "_id": p.reminder.obj.id,
                "_expires_at": p.reminder.expires_at,
                "_remind_at": p.remind_at,
            }
            for p in plans
        ]
        result = s.connection().execute(statement, rows)
        return int(result.rowcount) if len(rows) == 1 else len(rows)


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


@dataclass(frozen=True)
class Plan:
    """What one pass does for one due reminder: the DM to queue (with its key), if any, and
    the object's next `remind_at`."""

    reminder: Reminder
    remind_at: datetime | None
    key: str = ""
    message: Message | None = None


class ReminderSource(Protocol):
    def due(self, s: Session, now: datetime, limit: int) -> list[Reminder]: ...

    def first_due(self, s: Session) -> datetime | None: ...

    def set_remind_at(self, s: Session, plans: Sequence[Plan]) -> int: ...


class ReminderJob(UseCases):
    """The reminders job: one indexed query per workflow for the objects with something due
    (`remind_at`), then, per batch, one transaction with their DMs and next `remind_at`."""

    BATCH = 500

    def __init__(self, ctx: Context, sources: Sequence[ReminderSource]) -> None:
        super().__init__(ctx)
        self.sources = tuple(sources)
        self.thresholds = tuple(sorted(ctx.policy.reminders.before))  # smallest first

    def run(self) -> int:
        """Queue every reminder that is due now; returns how many were queued."""
        if not self.thresholds:
            return 0
        now = self.clock.now()
        return sum(self._run_source(source, now) for source in self.sources)

    def _run_source(self, source: ReminderSource, now: datetime) -> int:
        queued = 0
        while True:
            with self.sessions() as s:
                due = source.due(s, now, self.BATCH)
                plans = [p for r in due if (p := self._plan(s, r, now)) is not None]
            if not plans:  # nothing due (an idle pass takes no write lock) or all skipped
                return queued
            queued += self._apply(source, plans, now)
            if len(due) < self.BATCH:
                return queued

    def _apply(self, source: ReminderSource, plans: list[Plan], now: datetime) -> int:
        """One transaction for the batch: the plans without a DM in bulk, then each DM with its
        object's `remind_at` in a savepoint of its own, so one failure loses no other."""

        def send(s: Session, plan: Plan) -> bool:
            if plan.message is None or not source.set_remind_at(s, [plan]):
                return False  # its expiry or state changed since it was read
            self.notifier.dm(
                s, now=now, user_id=plan.reminder.user_id, key=plan.key, message=plan.message
            )
            return True

        with batch_transaction(self.sessions) as s:
            source.set_remind_at(s, [p for p in plans if p.message is None])
            dms = [p for p in plans if p.message is not None]
            return each_in_savepoint(s, dms, send, "reminders")

    def _plan(self, s: Session, reminder: Reminder, now: datetime) -> Plan | None:
        """What to do for one due object; None leaves it due (Slack could not say the
        owner's time zone now: a later pass tries again)."""
        try:
            return self._decide(s, reminder, now)
        except TemporaryError as exc:
            logger.warning(
                "reminder %s for %s skipped until a later pass: %s",
                reminder.key,
                reminder.user_id,
                exc,
            )
            return None

    def next_due(self, now: datetime) -> datetime | None:
        """When `run` next has work: the earliest `remind_at` (already past means now)."""
        if not self.thresholds:
            return None
        with self.sessions() as s:
            firsts = [source.first_due(s) for source in self.sources]
        return min((f for f in firsts if f is not None), default=None)

    def _decide(self, s: Session, reminder: Reminder, now: datetime) -> Plan:
        expires_at = reminder.expires_at
        if expires_at <= now:
            return Plan(reminder, None)  # the expiry job takes it from here
        armed = armed_thresholds(self.thresholds, expires_at, reminder.armed_at)
        threshold = self._crossed(reminder, now)
        if threshold is None:  # the next crossing is the largest armed threshold's, if any
            return Plan(reminder, expires_at - armed[-1] if armed else None)
        smaller = [t for t in armed if t < threshold]
        after = expires_at - smaller[-1] if smaller else None
        key = self._key(reminder, threshold)
        if self.notifier.dm_queued(s, user_id=reminder.user_id, key=key):
            return Plan(reminder, after)
        tz = self._tz(reminder.user_id)
        if self._quiet(now, expires_at, tz):
            return Plan(reminder, self._quiet_end(now, tz))
        left = time_left(expires_at - now)
        when = slack_time(expires_at)  # each reader's own time; UTC as the fallback
        return Plan(reminder, after, key, reminder.message(left, when))

    def _crossed(self, reminder: Reminder, now: datetime) -> timedelta | None:
        """The nearest armed threshold crossed by now; larger ones missed in between are moot."""
        armed = armed_thresholds(self.thresholds, reminder.expires_at, reminder.armed_at)
        return next((t for t in armed if reminder.expires_at - t <= now), None)

    @staticmethod
    def _key(reminder: Reminder, threshold: timedelta) -> str:
        return f"{reminder.key}:{int(threshold.total_seconds())}"

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
