"""Policy keys of approvals that scale: thresholds, notification, escalation, auto-approval
rules and break-glass (`workspaces.<w>.approvals`, `roles.<r>.approvals`, `roles.<r>.auto_approve`,
`workspaces.<w>.break_glass`), and the window syntax of `during`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer, PlainValidator, PositiveInt, WithJsonSchema

from bot.policy.base import PolicyModel
from bot.policy.types import Duration, PrincipalRef, show

Notify = Literal["channel", "dm", "both"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"(?P<days>[a-z,-]+)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})")
WINDOW_EXAMPLE = 'e.g. "mon-fri 08:00-18:00", "sat,sun 10:00-14:00" or "daily 00:00-24:00"'


@dataclass(frozen=True)
class Window:
    """Days of the week and a time of day range, read in the requester's own time zone."""

    days: frozenset[int]  # 0 = Monday
    start: time
    end: time | None  # None: until midnight (24:00)
    text: str

    def contains(self, local: datetime) -> bool:
        """Whether a wall-clock moment (already in the requester's time zone) is inside."""
        if local.weekday() not in self.days:
            return False
        moment = local.time().replace(tzinfo=None)
        return self.start <= moment and (self.end is None or moment < self.end)

    def __str__(self) -> str:
        return self.text


def _clock(text: str, whole: str) -> time | None:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours == 24 and minutes == 0:
        return None
    if hours > 23 or minutes > 59:
        raise ValueError(f'"{whole}": {text} is not a time of day (use HH:MM; {WINDOW_EXAMPLE})')
    return time(hours, minutes)


def _days(text: str, whole: str) -> frozenset[int]:
    if text == "daily":
        return frozenset(range(7))
    chosen: set[int] = set()
    for part in text.split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(end not in DAYS for end in ends):
            raise ValueError(
                f'"{whole}": "{part}" is not a day or a range of days '
                f"(use {', '.join(DAYS)} or daily; {WINDOW_EXAMPLE})"
            )
        first, last = DAYS.index(ends[0]), DAYS.index(ends[-1])
        span = range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)]
        chosen.update(span)
    return frozenset(chosen)


def to_window(value: object) -> Window:
    """Validate `during`: days then a time range, `mon-fri 08:00-18:00`.

    Raises:
        ValueError: malformed; the message quotes the value and gives examples.
    """
    if isinstance(value, Window):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{show(value)} is not a time window ({WINDOW_EXAMPLE})")
    text = " ".join(value.lower().split())
    match = _WINDOW.fullmatch(text)
    if match is None:
        raise ValueError(
            f'"{value}" is not a time window: write days, a space, then HH:MM-HH:MM '
            f"({WINDOW_EXAMPLE})"
        )
    start = _clock(match["start"], value)
    end = _clock(match["end"], value)
    if start is None or (end is not None and end <= start):
        raise ValueError(
            f'"{value}": the window must end after it starts on the same day; '
            f"split a night window in two rules ({WINDOW_EXAMPLE})"
        )
    return Window(days=_days(match["days"], value), start=start, end=end, text=text)


WindowText = Annotated[
    Window,
    PlainValidator(to_window),
    PlainSerializer(str, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string"}),
]


class Approvals(PolicyModel):
    """How a workspace's requests are approved (its roles and its `approval: true` templates)."""

    required: PositiveInt = 1  # distinct eligible approvers; the requester never counts
    notify: Notify = "channel"  # dm and both also DM each eligible approver
    escalate_after: Duration | None = None  # nobody decided by then: escalate once
    escalate_to: tuple[PrincipalRef, ...] = ()  # pinged, and eligible once escalated


class ApprovalsOverride(PolicyModel):
    """A role's or template's changes to its workspace's `approvals`; unset keys are inherited."""

    required: PositiveInt | None = None
    notify: Notify | None = None
    escalate_after: Duration | None = None
    escalate_to: tuple[PrincipalRef, ...] | None = None

    def over(self, base: Approvals) -> Approvals:
        """The workspace's settings with this override's set keys replacing them."""
        # The values themselves: model_dump would turn principals into dicts.
        changes = {k: getattr(self, k) for k in type(self).model_fields}
        return base.model_copy(update={k: v for k, v in changes.items() if v is not None})


class AutoApprove(PolicyModel):
    """Grant a role at once, without approvers, to members of these groups during a window."""

    members_of: tuple[PrincipalRef, ...] = Field(min_length=1)
    during: WindowText | None = None  # None: at any time
    name: str | None = None  # on the card and in the audit; default <role>-hours or <role>-members

    def rule_name(self, role: str) -> str:
        """The name the card and the audit give this rule."""
        return self.name or f"{role}-{'hours' if self.during else 'members'}"


class BreakGlass(PolicyModel):
    """Who may grant themselves access without approval, loudly, with a review afterwards."""

    allowed: tuple[PrincipalRef, ...] = Field(min_length=1)
    roles: tuple[str, ...] = Field(min_length=1)  # names of this workspace's roles
    max: Duration = timedelta(hours=1)
    review_within: Duration = timedelta(hours=24)  # not reviewed by then: the escalation group


def effective(base: Approvals, override: ApprovalsOverride | None) -> Approvals:
    """The approval settings that apply to one role or template."""
    return base if override is None else override.over(base)
