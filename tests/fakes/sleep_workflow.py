"""A third workflow that exists only in the tests: sleep schedules for a workspace.

It proves the lifecycle kernel carries a workflow that neither slice knows: its own table,
machine, card, limits, reminders and backend, described to the kernel and nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from sqlalchemy import JSON, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, synonym

from bot.db.models import Tracked, rearm_reminders_on_expiry_change
from bot.db.types import UTCDateTime
from bot.domain.states import Machine
from bot.lifecycle.extension import Limits
from bot.lifecycle.workflow import Workflow
from bot.slack.blocks import Message, text_message


class SleepBase(DeclarativeBase):
    metadata = MetaData()
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 - SQLAlchemy's API


class Sleep(Tracked, SleepBase):
    """A request to put a workspace's clusters to sleep for a while."""

    __tablename__ = "test_sleeps"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    workspace: Mapped[str] = mapped_column(String(63))
    backend: Mapped[str] = mapped_column(String(32), default="fake")
    asked_by: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    next_check_at: Mapped[datetime | None]
    remind_at: Mapped[datetime | None]
    decided_by: Mapped[str] = mapped_column(String(32), default="")
    decided_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    failure: Mapped[str] = mapped_column(Text, default="")
    drift: Mapped[str] = mapped_column(Text, default="")
    drift_count: Mapped[int] = mapped_column(Integer, default=0)
    approval: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # N of M's card view
    escalate_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    label: Mapped[str] = synonym("id")
    requester_id: Mapped[str] = synonym("asked_by")
    holder_id: Mapped[str] = synonym("asked_by")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's API


rearm_reminders_on_expiry_change(Sleep)


class SleepState(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    ASLEEP = "ASLEEP"
    AWAKE = "AWAKE"
    DENIED = "DENIED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"


_S = SleepState
TABLE: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        (_S.PENDING, "approve"): _S.APPROVED,
        (_S.PENDING, "deny"): _S.DENIED,
        (_S.PENDING, "cancel"): _S.CANCELLED,
        (_S.PENDING, "time_out"): _S.TIMED_OUT,
        (_S.APPROVED, "sleep"): _S.ASLEEP,
        (_S.ASLEEP, "wake"): _S.AWAKE,
    }
)
MACHINE = Machine(
    "sleep", TABLE, _S.PENDING, _S.DENIED, frozenset({_S.DENIED, _S.CANCELLED, _S.TIMED_OUT})
)


def card(sleep: Sleep, now: datetime) -> Message:
    return text_message(f"Sleep {sleep.id} for {sleep.workspace}: {sleep.state.lower()}")


SLEEPS: Workflow[Any] = Workflow(
    "sleep", Sleep, MACHINE, card, lambda s: s.state.lower(), "sleep schedule", "/sleep list",
    "the clusters go to sleep now",
)  # fmt: skip


def limits(sleep: Sleep) -> Limits:
    """Sleeps extend by 2h, at most 12h from creation."""
    return Limits(timedelta(hours=2), sleep.created_at + timedelta(hours=12), "a sleep lasts 12h")


class FakeSleeper:
    """The backend: which workspaces sleep; `drift` pretends someone woke one by hand."""

    def __init__(self) -> None:
        self.asleep: set[str] = set()
        self.calls: list[tuple[str, str]] = []

    def sleep(self, spec: str) -> None:
        self.calls.append(("sleep", spec))
        self.asleep.add(spec)

    def wake(self, spec: str) -> None:
        self.calls.append(("wake", spec))
        self.asleep.discard(spec)
