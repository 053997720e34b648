"""What a workflow tells the kernel about itself: its table, its card, its words.

Environments and access requests are the same shape (a request, a decision, an apply, a life
with reminders and drift, an end). Each slice describes its object with one `Workflow`, and
the kernel runs the shared moves on it without knowing which workflow it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from bot.db.models import Tracked
from bot.domain.states import Machine
from bot.policy import Policy
from bot.policy.approvals import Approvals
from bot.slack.blocks import Message

T = TypeVar("T", bound=Tracked)


def _unchanged(obj: object, before: str, event: str) -> None:
    """The default `on_move`: a move changes nothing but the state."""


def _workspace_approvals(policy: Policy, obj: Tracked) -> Approvals:
    """The default `approvals`: the object's workspace's (one owner, when it is gone)."""
    ws = policy.workspaces.get(obj.workspace)
    return ws.approvals if ws is not None else Approvals()


@dataclass(frozen=True)
class Workflow(Generic[T]):
    """One workflow's description, registered with the kernel by its slice.

    Attributes:
        kind: the object type in the audit trail, the outbox and button values.
        model: the SQLAlchemy model of the object (a `Tracked` row).
        machine: the workflow's state machine.
        card: renders the object's card from its state.
        state_word: the object's state in words.
        noun: what users call one ("environment", "access request").
        listing: the command that lists them ("/env list").
        next_step: what an approval starts, in words ("provisioning starts now").
        on_move: extra column changes a move makes (obj, state before, event).
        approvals: the approval settings that apply to an object (its role's, its template's).
    """

    kind: str
    model: type[T]
    machine: Machine
    card: Callable[[T, datetime], Message]
    state_word: Callable[[T], str]
    noun: str
    listing: str
    next_step: str
    on_move: Callable[[T, str, str], None] = _unchanged
    approvals: Callable[[Policy, T], Approvals] = _workspace_approvals

    def missing(self, obj_id: str) -> str:
        """What to say when a command or button names no such object."""
        return f'no {self.noun} "{obj_id}"; {self.listing} shows yours'
