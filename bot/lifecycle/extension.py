"""Extending within a cap, for everything that expires: the rule, and the change it makes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.errors import UserError
from bot.lifecycle.context import Context, WorkflowUseCases
from bot.lifecycle.workflow import T, Workflow
from bot.slack.acted import slack_time


class CapReached(UserError):
    """The object already lives as long as it may; the slice says so in its own words."""

    def __init__(self, cap: datetime) -> None:
        super().__init__(f"capped at {cap:%Y-%m-%d %H:%M} UTC")
        self.cap = cap


@dataclass(frozen=True)
class Extension:
    """The outcome of one extension: the old and new expiry, and whether the cap cut it."""

    old: datetime
    new: datetime
    capped: bool


def requested_step(raw: str | None, default: timedelta) -> timedelta:
    """The extension a user asked for (`/… extend <id> 2h`), or the default step.

    Raises:
        UserError: the duration does not parse; the message quotes it.
    """
    if not raw:
        return default
    try:
        return parse_duration(raw)
    except DurationError as exc:
        raise UserError(str(exc)) from None


def extended(expires_at: datetime, step: timedelta, cap: datetime, *, explicit: bool) -> Extension:
    """The new expiry after extending by `step`, never past `cap`.

    An explicit duration that does not fit is refused; the default step is cut at the cap,
    and refused only once the cap is reached.

    Raises:
        CapReached: the extension does not fit under the cap.
    """
    wanted = expires_at + step
    if wanted > cap and (explicit or expires_at >= cap):
        raise CapReached(cap)
    new = min(wanted, cap)
    return Extension(old=expires_at, new=new, capped=new < wanted)


@dataclass(frozen=True)
class Limits:
    """How long one object may live: the default step, the cap, and the rule in words
    ("dev can live at most 14d from creation")."""

    step: timedelta
    cap: datetime
    rule: str


def cap_refusal(limits: Limits, expires_at: datetime) -> str:
    """Why an extension does not fit, with the room left in words ("at most 12d more")."""
    until = slack_time(limits.cap)
    room = limits.cap - expires_at
    if room < timedelta(minutes=1):
        return f"{limits.rule}, and it already expires then ({until}); it cannot be extended more"
    return f"{limits.rule}: extend it by at most {format_duration(room)} more (until {until})"


class Extensions(WorkflowUseCases[T]):
    """Extend within the cap, for one workflow: which states may be extended, and its limits."""

    def __init__(
        self,
        ctx: Context,
        workflow: Workflow[T],
        extendable: tuple[frozenset[str], str],
        limits: Callable[[T], Limits],
    ) -> None:
        super().__init__(ctx, workflow)
        self.states, self.what = extendable  # e.g. ({ACTIVE}, "an active grant")
        self.limits = limits

    def extend(
        self,
        obj_id: str,
        actor: str,
        raw: str | None,
        then: Callable[[Session, T, Extension], None],
    ) -> Extension:
        """Extend by `raw` (or the default step) within the cap, recorded with audit and card;
        `then` adds the workflow's own messages in the same transaction.

        Raises:
            UserError: not extendable now, a bad duration, or past the cap (says which).
        """
        now = self.clock.now()
        with self.sessions.begin() as s:
            obj = self.life.locked(s, obj_id)
            if obj.state not in self.states:
                word = self.life.workflow.state_word(obj)
                raise UserError(f"{obj.label} is {word}; only {self.what} can be extended")
            limits = self.limits(obj)
            expires_at: datetime = getattr(obj, "expires_at")  # noqa: B009 - every one has it
            try:
                ext = extended(
                    expires_at, requested_step(raw, limits.step), limits.cap, explicit=bool(raw)
                )
            except CapReached:
                raise UserError(cap_refusal(limits, expires_at)) from None
            setattr(obj, "expires_at", ext.new)  # noqa: B010 - every expiring workflow has it
            obj.updated_at = now
            detail = {"old_expiry": ext.old.isoformat(), "new_expiry": ext.new.isoformat()}
            self.life.audit(s, obj, "extend", actor, now, **detail)
            then(s, obj, ext)
            self.life.refresh(s, obj, now)
        return ext
