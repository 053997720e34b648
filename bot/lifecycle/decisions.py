"""Approve, Deny and Cancel for every workflow: who may decide, and one compare-and-set.

One conditional UPDATE moves the object out of its pending state, so exactly one of two owners
clicking at once wins and the other is told who did. An Approve is a vote (`votes.py`): the
object is approved, in the vote's transaction, when enough eligible approvers voted
(`eligible.py`); one Deny denies. The decision only commits the new state and wakes the job
runner; the job applies it (no backend is called from a click).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic

from sqlalchemy.orm import Session

from bot.errors import Conflict, NotAllowed, NotFound
from bot.lifecycle.context import Context, UseCases
from bot.lifecycle.eligible import Approvers, approvers, names
from bot.lifecycle.moves import Lifecycle
from bot.lifecycle.votes import Votes
from bot.lifecycle.workflow import T
from bot.slack.blocks import Message, text_message


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


class Decisions(UseCases, Generic[T]):
    """The decision buttons of one workflow, on the kernel's move and compare-and-set."""

    def __init__(
        self, ctx: Context, life: Lifecycle[T], effects: Effects[T], record_note: bool = False
    ) -> None:
        super().__init__(ctx)
        self.life = life
        self.effects = effects
        self.record_note = record_note  # the workflow keeps the deny reason on the object
        self.votes = Votes(ctx, life, self._approved, self.already)

    def find(self, obj_id: str) -> T:
        """The object a button or command names.

        Raises:
            NotFound: there is none; the message says where to look.
        """
        obj = self.life.get(self.sessions, obj_id.strip())
        if obj is None:
            raise NotFound(self.life.workflow.missing(obj_id.strip()))
        return obj

    def approvers(self, obj: T) -> Approvers:
        """Who may decide `obj` now, and its approval settings."""
        return approvers(self.policy, self.directory, self.life.workflow, obj)

    def authorize(self, obj: T, user_id: str, verb: str) -> Approvers:
        """Eligible approvers decide (the owners, and the escalation group once escalated),
        never the one who asked.

        Raises:
            NotAllowed: the user is not eligible, or asked for it themselves.
        """
        who = self.approvers(obj)
        if user_id == obj.requester_id:
            if user_id in self.owners_of(obj.workspace):
                raise NotAllowed(
                    f"you cannot {verb} your own request, even as an owner; "
                    f"another owner of {obj.workspace} must decide"
                )
            if user_id in self.directory.members(who.settings.escalate_to):
                raise NotAllowed(
                    f"you cannot {verb} your own request, even in its escalation group; "
                    f"may decide now: {names(who.eligible)}"
                )
        if user_id not in who.eligible:
            soon = " (its escalation group too, once it escalates)"
            also = soon if who.escalation and not who.escalated else ""
            raise NotAllowed(
                f"only owners of {obj.workspace} can {verb}{also}; "
                f"may decide now: {names(who.eligible)}"
            )
        return who

    def check_open(self, obj_id: str, user_id: str, verb: str) -> T:
        """Refuse early (before a form opens) when this user may not decide now."""
        obj = self.find(obj_id)
        self.authorize(obj, user_id, verb)
        if obj.state != self.life.workflow.machine.pending:
            raise Conflict(self.already(obj))
        return obj

    def approve(self, obj_id: str, user_id: str) -> Message:
        """One eligible approver's vote; the one that reaches the threshold approves."""
        obj = self.find(obj_id)
        who = self.authorize(obj, user_id, "approve")
        missing = self.votes.cast(obj, user_id, who)
        if missing:
            more = f"{missing} more approval" + ("s" if missing > 1 else "")
            return text_message(f"You approved `{obj.label}`; waiting for {more}.")
        self.ctx.wake.wake()
        return text_message(f"Approved `{obj.label}`; {self.life.workflow.next_step}.")

    def deny(self, obj_id: str, user_id: str, note: str) -> Message:
        obj = self.find(obj_id)
        self.authorize(obj, user_id, "deny")
        self.decide(obj, Verdict.DENY, user_id, note)
        return text_message(f"Denied `{obj.label}`.")

    def cancel(self, obj_id: str, user_id: str) -> Message:
        obj = self.find(obj_id)
        if user_id != obj.requester_id:
            raise NotAllowed(f"only <@{obj.requester_id}>, who asked, can cancel {obj.label}")
        self.decide(obj, Verdict.CANCEL, user_id, "")
        return text_message(f"Cancelled `{obj.label}`.")

    def decide(self, obj: T, verdict: Verdict, user_id: str, note: str) -> T:
        """Compare-and-set the pending object to the verdict's state (see `settle`), then wake
        the jobs.

        Raises:
            Conflict: someone decided first (or the object moved on); says who and what.
        """
        with self.sessions.begin() as s:
            fresh = self.settle(s, obj.id, verdict, user_id, note, self.clock.now())
        self.ctx.wake.wake()
        return fresh

    def settle(
        self,
        s: Session,
        obj_id: str,
        verdict: Verdict,
        user_id: str,
        note: str,
        now: datetime,
        **values: object,
    ) -> T:
        """In `s`: compare-and-set the pending object to the verdict's state (with `values`),
        with its audit row, card, thread reply and the workflow's effects.

        Raises:
            Conflict: someone decided first (or the object moved on); says who and what.
        """
        machine = self.life.workflow.machine
        target = machine.next(machine.pending, verdict)
        extra = {"decision_note": note} if self.record_note else {}
        won = self.life.compare_and_set(
            s,
            obj_id,
            machine.pending,
            state=target,
            decided_by=user_id,
            decided_at=now,
            updated_at=now,
            next_check_at=now,
            escalate_at=None,
            **extra,
            **values,
        )
        if not won:
            s.rollback()
            raise Conflict(self.already(self.find(obj_id)))
        fresh = self.life.reload(s, obj_id)
        decision = Decision(verdict, user_id, note, now)
        self.life.audit(s, fresh, verdict, user_id, now, from_state=machine.pending, note=note)
        self.life.refresh(s, fresh, now)
        said = f"{decision.verb} by <@{user_id}>{decision.why}"
        self.life.thread(s, fresh, f"decision:{target}", now, said)
        self.effects(s, fresh, decision)
        return fresh

    def _approved(
        self, s: Session, obj_id: str, user_id: str, now: datetime, approval: dict[str, Any]
    ) -> T:
        """The vote that reached the threshold approves, in the vote's transaction."""
        return self.settle(s, obj_id, Verdict.APPROVE, user_id, "", now, approval=approval)

    def already(self, obj: T) -> str:
        """Why a decision came too late: who decided, or what became of the object."""
        machine = self.life.workflow.machine
        if obj.decided_by and obj.state == machine.denied:
            return f"{obj.label} was already denied by <@{obj.decided_by}>"
        if obj.decided_by and obj.state not in machine.undecided | {machine.pending}:
            return f"{obj.label} was already approved by <@{obj.decided_by}>"
        return f"{obj.label} is already {self.life.workflow.state_word(obj)}"
