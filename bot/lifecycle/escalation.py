"""Escalation: a pending request nobody decided within `escalate_after` pings its escalation
group in the card's thread, once, and makes its members eligible approvers (`eligible.py`).

A job step like the other sweeps: an indexed due query (state, escalate_at), batches of one
transaction each, and `escalate_at` cleared in the same transaction, so it happens once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain.durations import format_duration
from bot.lifecycle.approval_view import ApprovalState
from bot.lifecycle.batch import chunks, sweep_chunk
from bot.lifecycle.context import Context, UseCases
from bot.lifecycle.due import earliest
from bot.lifecycle.eligible import approvers, mention, names
from bot.lifecycle.moves import SYSTEM, Lifecycle


class Escalation(UseCases):
    """The escalation job over every workflow that asks for approval."""

    def __init__(self, ctx: Context, lives: Sequence[Lifecycle[Any]]) -> None:
        super().__init__(ctx)
        self.lives = tuple(lives)

    def run(self) -> int:
        """Escalate every pending object whose `escalate_at` has passed; returns how many."""
        now = self.clock.now()
        done = 0
        for life in self.lives:
            model: Any = life.workflow.model
            pending = life.workflow.machine.pending
            with self.sessions() as s:
                due = list(
                    s.scalars(
                        select(model.id).where(model.state == pending, model.escalate_at <= now)
                    ).all()
                )

            def work(s: Session, obj: Any, life: Lifecycle[Any] = life) -> bool:
                return self._escalate(s, life, obj, now)

            what = f"{life.workflow.kind} escalation"
            done += sum(sweep_chunk(self.sessions, model, c, work, what) for c in chunks(due))
        return done

    def next_due(self, now: datetime) -> datetime | None:
        """The earliest `escalate_at` of a pending object (None: nothing will escalate)."""
        found = [
            earliest(
                self.sessions,
                life.workflow.model.escalate_at,
                life.workflow.model.state == life.workflow.machine.pending,
            )
            for life in self.lives
        ]
        return min((at for at in found if at is not None), default=None)

    def _escalate(self, s: Session, life: Lifecycle[Any], obj: Any, now: datetime) -> bool:
        """Ping the group once, widen who may decide, and re-render the card."""
        due = obj.escalate_at
        if obj.state != life.workflow.machine.pending or due is None or due > now:
            return False
        obj.escalated_at = now
        obj.escalate_at = None
        obj.updated_at = now
        who = approvers(self.policy, self.directory, life.workflow, obj)
        settings = who.settings
        view = ApprovalState.of(obj.approval)
        if view is not None:
            obj.approval = view.to_json() | {"eligible": sorted(who.eligible), "escalated": True}
        missing = view.required - len(view.voters & who.eligible) if view else who.required
        waited = format_duration(settings.escalate_after or now - obj.created_at)
        ping = mention(self.directory, settings.escalate_to) or names(who.escalation)
        life.audit(
            s, obj, "escalated", SYSTEM, now,
            escalate_to=[str(p) for p in settings.escalate_to],
        )  # fmt: skip
        life.refresh(s, obj, now)
        life.thread(
            s, obj, "escalated", now,
            f"Escalated to {ping}: nobody decided in {waited}. You may now approve or deny "
            f"this too ({max(1, missing)} more approval{'s' if missing > 1 else ''} needed).",
        )  # fmt: skip
        if settings.notify in ("dm", "both"):  # copies kept in step, as the first ones
            for user_id in sorted(who.escalation - who.owners):
                life.dm_copy(s, obj, user_id, f"escalated:{obj.id}", now)
        return True
