"""How a decision hands its work to the jobs at once: the job runner is woken, never bypassed."""

from __future__ import annotations

from typing import Protocol


class Wake(Protocol):
    """Wakes the job runner so a committed state is applied now rather than at the next tick."""

    def wake(self) -> None:
        """Ask the runner to run its jobs soon; never blocks, never raises."""
        ...


class NoWake:
    """For runs that step their jobs themselves (the demo, the tests): nothing to wake."""

    def wake(self) -> None:
        """Do nothing; the caller runs the jobs."""
