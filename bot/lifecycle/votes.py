"""N of M approvals: each Approve is a vote, recorded once per approver; the vote that reaches
the threshold approves the object in the same transaction, through the kernel's compare-and-set.

The object's row is locked first (`FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite), so
two approvers voting at once are counted one after the other: of two second approvals racing,
one approves and the other is told who did; nobody is counted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import ApprovalVote
from bot.errors import Conflict, NotFound
from bot.lifecycle.approval_view import ApprovalState
from bot.lifecycle.batch import batch_transaction
from bot.lifecycle.context import Context
from bot.lifecycle.eligible import Approvers
from bot.lifecycle.moves import Lifecycle
from bot.lifecycle.workflow import T

# The kernel's Approve in a transaction (`Decisions.settle`): session, object id, approver,
# when, and the `approval` column to write with the new state.
Approve = Callable[[Session, str, str, datetime, dict[str, Any]], object]


def voted(s: Session, kind: str, obj_id: str) -> list[tuple[str, datetime]]:
    """The object's votes so far, oldest first: (approver, when)."""
    rows = s.execute(
        select(ApprovalVote.approver, ApprovalVote.at)
        .where(ApprovalVote.object_type == kind, ApprovalVote.object_id == obj_id)
        .order_by(ApprovalVote.at, ApprovalVote.id)
    ).all()
    return [(str(who), at) for who, at in rows]


def with_votes(
    raw: dict[str, Any], votes: list[tuple[str, datetime]], who: Approvers
) -> dict[str, Any]:
    """The `approval` column after a vote: the votes, the threshold and who may decide now."""
    state = ApprovalState.of(raw)
    base = {} if state is None else state.to_json()
    return base | {
        "required": who.required,
        "votes": [[u, int(at.timestamp())] for u, at in votes],
        "eligible": sorted(who.eligible),
        "escalated": who.escalated,
    }


class Votes(Generic[T]):
    """Casts one approver's vote on a pending object."""

    def __init__(
        self, ctx: Context, life: Lifecycle[T], approve: Approve, already: Callable[[T], str]
    ) -> None:
        self.ctx = ctx
        self.life = life
        self.approve = approve
        self.already = already

    def cast(self, obj: T, user_id: str, who: Approvers) -> int:
        """Record `user_id`'s approval (already authorized against `who`); approve the object
        when it is the last one needed.

        Returns:
            How many more approvals it needs (0: this one approved it).

        Raises:
            Conflict: it was decided meanwhile, or this user already approved it.
        """
        kind = self.life.workflow.kind
        now = self.ctx.clock.now()
        with batch_transaction(self.ctx.sessions) as s:
            row = self._locked(s, obj.id)
            if row.state != self.life.workflow.machine.pending:
                raise Conflict(self.already(row))
            before = voted(s, kind, row.id)
            if user_id in {u for u, _ in before}:
                counted = {u for u, _ in before} & who.eligible  # as below: eligible now
                missing = max(1, who.required - len(counted))
                raise Conflict(
                    f"you already approved {row.label}; waiting for {missing} more "
                    f"approval{'s' if missing > 1 else ''}"
                )
            s.add(ApprovalVote(object_type=kind, object_id=row.id, approver=user_id, at=now))
            s.flush()
            votes = [*before, (user_id, now)]
            counted = {u for u, _ in votes} & who.eligible
            approval = with_votes(row.approval, votes, who)
            if len(counted) >= who.required:
                self.approve(s, row.id, user_id, now, approval)
                return 0
            missing = who.required - len(counted)
            row.approval = approval
            row.updated_at = now
            tally = f"{len(counted)} of {who.required}"
            self.life.audit(s, row, "approval", user_id, now, approvals=tally)
            self.life.refresh(s, row, now)
            self.life.thread(
                s, row, f"vote:{user_id}", now,
                f"Approved by <@{user_id}> ({tally}); waiting for {missing} more",
            )  # fmt: skip
            return missing

    def _locked(self, s: Session, obj_id: str) -> T:
        row = s.get(self.life.workflow.model, obj_id, with_for_update=True, populate_existing=True)
        if row is None:
            raise NotFound(self.life.workflow.missing(obj_id))
        return row
