"""Each workflow's part of the App Home tab: what it lists as mine, what waits for my decision,
and how a row reads. The queries are the kernel's; the tab's blocks are built elsewhere."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.lifecycle.workflow import T, Workflow
from bot.slack.blocks import ActionId


@dataclass(frozen=True)
class HomeList(Generic[T]):
    """How one workflow shows on the Home tab.

    Attributes:
        title: the header of its "mine" list; `empty` is shown when that list is empty.
        listed: the states its "mine" list shows, ordered by `order_by` (a column name).
        actionable: the state in which a row offers Extend and `end` (its "now" button).
        line: a row's text; `waiting_line` the text of a row that waits for my decision.
    """

    workflow: Workflow[T]
    title: str
    empty: str
    listed: frozenset[str]
    order_by: str
    actionable: str
    end: tuple[str, ActionId]
    line: Callable[[T, datetime], str]
    waiting_line: Callable[[T, datetime], str]

    def mine(self, s: Session, user_id: str, limit: int) -> Sequence[T]:
        """What this user holds, in a listed state."""
        model: Any = self.workflow.model
        return list(
            s.scalars(
                select(model)
                .where(model.holder_id == user_id, model.state.in_(list(self.listed)))
                .order_by(getattr(model, self.order_by))
                .limit(limit)
            ).all()
        )

    def waiting(
        self,
        s: Session,
        user_id: str,
        owned: list[str],
        limit: int,
        may_decide: Callable[[T], bool] = lambda obj: True,
    ) -> Sequence[T]:
        """What waits for this user's decision: pending, not theirs, in a workspace they own or
        escalated, and (`may_decide`) where they are an eligible approver who has not voted."""
        model: Any = self.workflow.model
        query = (
            select(model)
            .where(
                or_(model.workspace.in_(owned), model.escalated_at.is_not(None)),
                model.state == self.workflow.machine.pending,
                model.requester_id != user_id,
            )
            .order_by(model.created_at, model.id)
        )
        # Page on until the list is full: escalated requests this user may not decide (another
        # workspace's escalation group) or has voted on must not crowd theirs out.
        page = limit * 4
        out: list[T] = []
        start = 0
        while True:
            found = s.scalars(query.offset(start).limit(page)).all()
            out += [obj for obj in found if may_decide(obj)]
            if len(out) >= limit or len(found) < page:
                return out[:limit]
            start += page


@dataclass(frozen=True)
class HomeRows:
    """One workflow's rows as read for one user."""

    source: HomeList[Any]
    mine: Sequence[Any]
    waiting: Sequence[Any]
