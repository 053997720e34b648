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
from bot.slack.blocks import Message

T = TypeVar("T", bound=Tracked)


def _unchanged(obj: object, before: str, event: str) -> None:
    """The default `on_move`: a move changes nothing but the state."""


@dataclass(frozen=True)
class Workflow(Generic[T]):
    """One workflow's description, registered with the kernel by its slice.

    Attributes:
        kind: the object type in the audit trail and the outbox ("env", "access").
        model: the SQLAlchemy model of the object.
        next_state: the workflow's state table; raises `InvalidTransition` for a missing move.
        card: renders the object's card from its state.
        label: how answers name one object (an environment's name, a request's id).
        state_word: the object's state in words.
        requester: who asked for it (never allowed to decide on it).
        workspace: the workspace whose owners decide.
        pending: the state a decision starts from.
        denied: the state a denial ends in.
        closed: states in which no decision was ever taken as an approval.
        on_move: extra column changes a move makes (obj, state before, event).
    """

    kind: str
    model: type[T]
    next_state: Callable[[str, str], str]
    card: Callable[[T, datetime], Message]
    label: Callable[[T], str]
    state_word: Callable[[T], str]
    requester: Callable[[T], str]
    workspace: Callable[[T], str]
    pending: str
    denied: str
    closed: frozenset[str]
    on_move: Callable[[T, str, str], None] = _unchanged
