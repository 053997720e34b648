"""Reminders before an environment is deleted or a grant expires, with Extend/Delete/Keep buttons.

A reminder is a DM whose outbox key names the object, its expiry time and the threshold, so
it is sent at most once per threshold for a given expiry, and an extension (a new expiry)
re-arms every threshold. The job decides at each run, from current state, so nothing is sent
for what was deleted, revoked or extended meanwhile, even while quiet hours hold it back.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks import ActionId, Message, actions, button, message, section
from bot.db.models import AccessRequest, Environment
from bot.domain.clock import Clock
from bot.domain.durations import format_duration
from bot.domain.states import AccessState, EnvState
from bot.notify import Notifier
from bot.policy import Policy
from bot.services.ports import Directory

logger = logging.getLogger(__name__)
REMINDER_BLOCK = "reminder_actions"
GRACE = timedelta(minutes=5)  # a late job run still sends what fell due just before a change


class ReminderService:
    """The reminders job: one indexed query per kind for what expires within the top threshold."""

    def __init__(
        self,
        policy: Policy,
        clock: Clock,
        sessions: sessionmaker[Session],
        directory: Directory,
        notifier: Notifier,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.sessions = sessions
        self.directory = directory
        self.notifier = notifier
        self.thresholds = tuple(sorted(policy.reminders.before))  # smallest first

    def run(self) -> int:
        """Queue every reminder that is due now; returns how many were queued."""
        if not self.thresholds:
            return 0
        now = self.clock.now()
        horizon = now + self.thresholds[-1]
        queued = 0
        with self.sessions() as s:
            envs = s.scalars(
                select(Environment).where(
                    Environment.state == EnvState.READY,
                    Environment.expires_at <= horizon,
                    Environment.expires_at > now,
                )
            ).all()
            grants = s.scalars(
                select(AccessRequest).where(
                    AccessRequest.state == AccessState.ACTIVE,
                    AccessRequest.expires_at <= horizon,
                    AccessRequest.expires_at > now,
                )
            ).all()
        for env in envs:
            queued += self._maybe(
                ("env", env.id),
                env.owner_id,
                env.expires_at,
                now,
                lambda t, e=env: self._env_message(e, t),
            )
        for req in grants:
            assert req.expires_at is not None  # noqa: S101 - ACTIVE has an expiry
            queued += self._maybe(
                ("access", req.id),
                req.requester_id,
                req.expires_at,
                now,
                lambda t, r=req: self._grant_message(r, t),
            )
        return queued

    def _maybe(
        self,
        obj: tuple[str, str],
        user_id: str,
        expires_at: datetime,
        now: datetime,
        render: object,
    ) -> int:
        crossed = [t for t in self.thresholds if expires_at - t <= now]
        if not crossed:
            return 0
        threshold = crossed[0]  # the nearest one; larger ones missed in between are moot
        tz = self._tz(user_id)
        if self._quiet(now, expires_at, tz):
            return 0
        assert callable(render)  # noqa: S101 - a bound lambda
        msg: Message = render(tz)
        key = f"remind:{obj[0]}:{obj[1]}:{expires_at.isoformat()}:{int(threshold.total_seconds())}"
        with self.sessions.begin() as s:
            self.notifier.dm(s, now=now, user_id=user_id, key=key, message=msg)
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
        end_at = _next_local(local, end)
        return end_at < expires_at

    def _env_message(self, env: Environment, tz: ZoneInfo) -> Message:
        template = self.policy.templates.get(env.template)
        step = template.ttl.extend_step if template else timedelta(hours=1)
        left, when = self._when(env.expires_at, tz)
        text = (
            f"`{env.name}` will be deleted in {left}, at {when}, with everything in it. "
            f"Extend it by {format_duration(step)}, delete it now, or keep it as is."
        )
        return _reminder(text, env.id, step, "Delete now", ActionId.DELETE_NOW)

    def _grant_message(self, req: AccessRequest, tz: ZoneInfo) -> Message:
        ws = self.policy.workspaces.get(req.workspace)
        role = ws.roles.get(req.role) if ws else None
        step = role.extend_step if role else timedelta(hours=1)
        assert req.expires_at is not None  # noqa: S101 - ACTIVE has an expiry
        left, when = self._when(req.expires_at, tz)
        text = (
            f"Your {req.role} access to {req.workspace} (`{req.id}`) ends in {left}, at "
            f"{when}. Extend it by {format_duration(step)}, revoke it now, or keep it as is."
        )
        return _reminder(text, req.id, step, "Revoke now", ActionId.REVOKE_NOW)

    def _when(self, expires_at: datetime, tz: ZoneInfo) -> tuple[str, str]:
        """How long is left, and the end in the owner's own timezone."""
        left = time_left(expires_at - self.clock.now())
        return left, f"{expires_at.astimezone(tz):%a %d %b %H:%M} ({tz.key})"


def _reminder(text: str, oid: str, step: timedelta, end_label: str, end: ActionId) -> Message:
    """The reminder DM: the text, then Extend <step> / <end now> / Keep as is."""
    return message(
        text,
        [
            section(text),
            actions(
                REMINDER_BLOCK,
                [
                    button(
                        f"Extend {format_duration(step)}", ActionId.EXTEND, oid, style="primary"
                    ),
                    button(end_label, end, oid, style="danger"),
                    button("Keep as is", ActionId.KEEP, oid),
                ],
            ),
        ],
    )


def time_left(delta: timedelta) -> str:
    """Time left, rounded up to the minute and in hours under two days: `24h`, `1h`, `13h 5m`."""
    minutes = max(0, math.ceil(delta.total_seconds() / 60))
    hours, mins = divmod(minutes, 60)
    if hours >= 48:
        return format_duration(timedelta(minutes=minutes))
    if hours and mins:
        return f"{hours}h {mins}m"
    return f"{hours}h" if hours else f"{mins}m"


def _next_local(local: datetime, at: time) -> datetime:
    """The next moment (after `local`) the wall clock in local's zone shows `at`."""
    candidate = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate
