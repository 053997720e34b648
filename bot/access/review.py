"""The review of a break-glass grant: the owners' Reviewed button (once, never by the one who
broke the glass), and the job that reminds the owners halfway to `review_within` and, when
nobody has reviewed it by then, pings the escalation group once in the card's thread."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.access.glass_card import HEADER
from bot.access.workflow import ACCESS
from bot.db.models import AccessRequest
from bot.errors import Conflict, NotAllowed, NotFound, UserError
from bot.lifecycle.batch import chunks, sweep_chunk
from bot.lifecycle.context import Context, WorkflowUseCases
from bot.lifecycle.due import earliest
from bot.lifecycle.moves import SYSTEM
from bot.lifecycle.render import time_left
from bot.slack.acted import slack_time
from bot.slack.blocks import Message, text_message


class Reviews(WorkflowUseCases[AccessRequest]):
    """Marks break-glass grants reviewed, and reminds and escalates those that are not."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ACCESS)

    # -- the Reviewed button ----------------------------------------------------------------

    def review(self, req_id: str, user_id: str) -> Message:
        """Mark a break-glass grant reviewed: an owner, not its holder, once.

        Raises:
            NotFound, UserError, NotAllowed: no such grant, not a break-glass, not this user's.
            Conflict: it was already reviewed; names by whom.
        """
        req = self.life.get(self.sessions, req_id.strip())
        if req is None:
            raise NotFound(ACCESS.missing(req_id.strip()))
        if not req.break_glass:
            raise UserError(f"{req.id} is not a break-glass grant; there is nothing to review")
        if user_id not in self.owners_of(req.workspace):
            raise NotAllowed(f"only owners of {req.workspace} can review a break-glass")
        if user_id == req.requester_id:
            raise NotAllowed(
                f"you broke the glass on {req.id} yourself; another owner of {req.workspace} "
                "must review it"
            )
        now = self.clock.now()
        with self.sessions.begin() as s:
            won = s.execute(
                update(AccessRequest)
                .where(AccessRequest.id == req.id, AccessRequest.reviewed_by == "")
                .values(
                    reviewed_by=user_id,
                    reviewed_at=now,
                    review_next_at=None,
                    version=AccessRequest.version + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if won.rowcount != 1:  # type: ignore[attr-defined]
                s.rollback()
                raise Conflict(self._already(req.id))
            fresh = self.life.reload(s, req.id)
            self.life.audit(s, fresh, "reviewed", user_id, now)
            self.life.refresh(s, fresh, now)
            self.life.thread(s, fresh, "reviewed", now, f"Reviewed by <@{user_id}>")
        return text_message(f"Marked break-glass `{req.id}` reviewed.")

    def _already(self, req_id: str) -> str:
        done = self.life.get(self.sessions, req_id)
        if done is None or not done.reviewed_by:
            return f"{req_id} changed meanwhile; look at its card again"
        when = f" at {slack_time(done.reviewed_at)}" if done.reviewed_at else ""
        return f"{req_id} was already reviewed by <@{done.reviewed_by}>{when}"

    # -- the job ----------------------------------------------------------------------------

    def run(self) -> int:
        """Remind or escalate every unreviewed break-glass whose moment came, in batches."""
        now = self.clock.now()
        with self.sessions() as s:
            due = list(
                s.scalars(select(AccessRequest.id).where(AccessRequest.review_next_at <= now)).all()
            )
        work = partial(self._step, now=now)
        return sum(
            sweep_chunk(self.sessions, AccessRequest, chunk, work, "break-glass review")
            for chunk in chunks(due)
        )

    def next_due(self, now: datetime) -> datetime | None:
        """When `run` next has work: the earliest reminder or escalation moment."""
        return earliest(
            self.sessions, AccessRequest.review_next_at, AccessRequest.review_next_at.is_not(None)
        )

    def _step(self, s: Session, req: AccessRequest, now: datetime) -> bool:
        due, at = req.review_due_at, req.review_next_at
        if req.reviewed_by or due is None or at is None or at > now:
            return False  # reviewed (or moved on) since the query
        if now < due:
            self._remind(s, req, due, now)
            req.review_next_at = due
        else:
            self._escalate(s, req, due, now)
            req.review_next_at = None
        self.life.refresh(s, req, now)
        return True

    def _remind(self, s: Session, req: AccessRequest, due: datetime, now: datetime) -> None:
        by = slack_time(due)
        self.life.thread(
            s, req, "review-reminder", now,
            f"Reminder: not reviewed yet; an owner of {req.workspace} must review it by {by}",
        )  # fmt: skip
        text = (
            f"Reminder: {HEADER} `{req.id}` by <@{req.requester_id}> ({req.role} in "
            f"{req.workspace}) is not reviewed yet; review it with Reviewed on its card by {by}."
        )
        for owner in sorted(self.owners_of(req.workspace) - {req.requester_id}):
            self.life.dm(s, owner, f"review-reminder:{req.id}", now, text)
        self.life.audit(s, req, "review_reminded", SYSTEM, now)

    def _escalate(self, s: Session, req: AccessRequest, due: datetime, now: datetime) -> None:
        ws = self.policy.workspaces.get(req.workspace)
        # The role's escalation group (its override of the workspace's), else the owners.
        group = (ACCESS.approvals(self.policy, req).escalate_to or ws.owners) if ws else ()
        people = " ".join(f"<@{u}>" for u in sorted(self.directory.members(group)))
        names = ", ".join(str(p) for p in group) or "nobody (the workspace is gone)"
        within = time_left(due - req.created_at)
        self.life.thread(
            s, req, "review-escalated", now,
            f":rotating_light: Not reviewed within {within}: {people} ({names}), please see that "
            f"an owner of {req.workspace} reviews break-glass `{req.id}`.",
        )  # fmt: skip
        self.life.audit(s, req, "review_escalated", SYSTEM, now, to=names)
