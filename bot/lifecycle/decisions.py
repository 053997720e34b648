"""Approve, Deny and Cancel for every workflow: who may decide, and one compare-and-set.

One conditional UPDATE moves the object out of its pending state, so exactly one of two owners
clicking at once wins and the other is told who did. The decision only commits the new state
and wakes the job runner; the job applies it (no backend is called from a click).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Generic

from sqlalchemy.orm import Session, sessionmaker

from bot.domain.clock import Clock
from bot.errors import Conflict, NotAllowed, NotFound
from bot.lifecycle.moves import Lifecycle
from bot.lifecycle.wake import Wake
from bot.lifecycle.workflow import T


class Verdict(StrEnum):
    """The three decisions; their values are the events of every workflow's table."""

    APPROVE = "approve"
    DENY = "deny"
    CANCEL = "cancel"


VERBS = {Verdict.APPROVE: "Approved", Verdict.DENY: "Denied", Verdict.CANCEL: "Cancelled"}


@dataclass(frozen=True)
class Decision:
    """A decision that won: who took it, why, and when."""

    verdict: Verdict
    user_id: str
    note: str
    at: datetime

    @property
    def why(self) -> str:
        return f": {self.note}" if self.note else ""

    @property
    def verb(self) -> str:
        return VERBS[self.verdict]


# What a workflow adds in the decision's transaction (its own DMs and thread replies).
Effects = Callable[[Session, T, Decision], None]


class Decisions(Generic[T]):
    """The decision buttons of one workflow, on the kernel's move and compare-and-set."""

    def __init__(
        self,
        life: Lifecycle[T],
        clock: Clock,
        sessions: sessionmaker[Session],
        owners: Callable[[T], frozenset[str]],
        effects: Effects[T],
        wake: Wake,
        record_note: bool = False,
    ) -> None:
        self.life = life
        self.clock = clock
        self.sessions = sessions
        self.owners = owners
        self.effects = effects
        self.wake = wake
        self.record_note = record_note

    def find(self, obj_id: str, missing: str) -> T:
        """The object a button or command names.

        Raises:
            NotFound: with `missing` as the message.
        """
        obj = self.life.get(self.sessions, obj_id.strip())
        if obj is None:
            raise NotFound(missing)
        return obj

    def authorize(self, obj: T, user_id: str, verb: str) -> None:
        """Owners of the object's workspace decide, never the one who asked.

        Raises:
            NotAllowed: the user is not an owner, or asked for it themselves.
        """
        wf = self.life.workflow
        if user_id not in self.owners(obj):
            raise NotAllowed(f"only owners of {wf.workspace(obj)} can {verb}")
        if user_id == wf.requester(obj):
            raise NotAllowed(
                f"you cannot {verb} your own request, even as an owner; "
                f"another owner of {wf.workspace(obj)} must decide"
            )

    def check_open(self, obj: T, user_id: str, verb: str) -> None:
        """Refuse early (before a form opens) when this user may not decide now."""
        self.authorize(obj, user_id, verb)
        if obj.state != self.life.workflow.pending:
            raise Conflict(self.already(obj))

    def approve(self, obj: T, user_id: str) -> T:
        self.authorize(obj, user_id, "approve")
        return self.decide(obj, Verdict.APPROVE, user_id, "")

    def deny(self, obj: T, user_id: str, note: str) -> T:
        self.authorize(obj, user_id, "deny")
        return self.decide(obj, Verdict.DENY, user_id, note)

    def cancel(self, obj: T, user_id: str) -> T:
        wf = self.life.workflow
        if user_id != wf.requester(obj):
            raise NotAllowed(f"only <@{wf.requester(obj)}>, who asked, can cancel {wf.label(obj)}")
        return self.decide(obj, Verdict.CANCEL, user_id, "")

    def decide(self, obj: T, verdict: Verdict, user_id: str, note: str) -> T:
        """Compare-and-set the pending object to the verdict's state, with its audit row, card,
        thread reply and the workflow's effects; then wake the jobs.

        Raises:
            Conflict: someone decided first (or the object moved on); says who and what.
        """
        wf = self.life.workflow
        now = self.clock.now()
        target = wf.next_state(wf.pending, verdict)
        extra = {"decision_note": note} if self.record_note else {}
        with self.sessions.begin() as s:
            won = self.life.compare_and_set(
                s,
                obj.id,
                wf.pending,
                state=target,
                decided_by=user_id,
                decided_at=now,
                updated_at=now,
                next_check_at=now,
                **extra,
            )
            if not won:
                s.rollback()
                raise Conflict(self.already(self.find(obj.id, f'no "{obj.id}"')))
            fresh = self.life.reload(s, obj.id)
            decision = Decision(verdict, user_id, note, now)
            self.life.audit(s, fresh, verdict, user_id, now, from_state=wf.pending, note=note)
            self.life.refresh(s, fresh, now)
            self.life.thread(
                s,
                fresh,
                f"decision:{target}",
                now,
                f"{decision.verb} by <@{user_id}>{decision.why}",
            )
            self.effects(s, fresh, decision)
        self.wake.wake()
        return fresh

    def already(self, obj: T) -> str:
        """Why a decision came too late: who decided, or what became of the object."""
        wf = self.life.workflow
        if obj.decided_by and obj.state == wf.denied:
            return f"{wf.label(obj)} was already denied by <@{obj.decided_by}>"
        if obj.decided_by and obj.state not in wf.closed and obj.state != wf.pending:
            return f"{wf.label(obj)} was already approved by <@{obj.decided_by}>"
        return f"{wf.label(obj)} is already {wf.state_word(obj)}"
