"""How a decision hands its work to the jobs at once: the job runner is woken, never bypassed.

Besides the explicit wakes of decisions, `wake_on_outbox_commit` wakes the drain after any
commit that queued a Slack message outside a job (a DM from a listener, a note after a modal):
the message goes now, not at the drain's next tick. A job's own messages wait for the drain's
tick (or the wake of the decision that caused them), so jobs do not wake each other in a loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from bot.slack.notify import OUTBOX_ADDED

_IN_JOB: ContextVar[bool] = ContextVar("envbot_in_job", default=False)


class Wake(Protocol):
    """Wakes the job runner so a committed state is applied now rather than at the next tick."""

    def wake(self) -> None:
        """Ask the runner to run its jobs soon; never blocks, never raises."""
        ...


class NoWake:
    """For runs that step their jobs themselves (the demo, the tests): nothing to wake."""

    def wake(self) -> None:
        """Do nothing; the caller runs the jobs."""


@contextmanager
def in_job() -> Iterator[None]:
    """Mark the code inside as a job run (the job runner wraps every run in it)."""
    token = _IN_JOB.set(True)
    try:
        yield
    finally:
        _IN_JOB.reset(token)


def wake_on_outbox_commit(sessions: sessionmaker[Session], wake: Wake) -> None:
    """Wake the runner after each commit of a `sessions` session that queued an outbox row,
    unless it ran inside a job; a rolled-back row wakes nothing."""

    def committed(session: Session) -> None:
        if session.info.pop(OUTBOX_ADDED, False) and not _IN_JOB.get():
            wake.wake()

    def rolled_back(session: Session, *_: Any) -> None:
        session.info.pop(OUTBOX_ADDED, None)

    event.listen(sessions, "after_commit", committed)
    event.listen(sessions, "after_rollback", rolled_back)
