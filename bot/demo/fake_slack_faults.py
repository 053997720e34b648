"""Faults the fake Slack can inject: queued failures for one method, or a random rate over many.

A fault is an HTTP error (429 with Retry-After, a 5xx, or a 200 with an error) or a dropped
connection: `drop_before` closes it without doing anything, `drop_after` does the call and then
closes it without answering (as a timeout after Slack accepted a message looks to the client).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum

#: The HTTP status the fake's server reads as "close the connection without an answer".
DROPPED = 0


class Fault(StrEnum):
    """The kinds of random fault."""

    RATELIMITED = "429"
    SERVER_ERROR = "500"
    DROP_BEFORE = "drop_before"
    DROP_AFTER = "drop_after"


ALL_FAULTS = tuple(Fault)


@dataclass
class Failure:
    """A queued failure: the next `remaining` calls answer `status` and `error` (or no answer)."""

    status: int
    error: str
    retry_after: int | None
    remaining: int
    after: bool = False  # a dropped answer after doing the call


@dataclass
class FaultProfile:
    """Fail about `rate` of the calls to `methods` (all when None), with one of `kinds`."""

    rate: float
    seed: int = 0
    methods: frozenset[str] | None = None
    kinds: tuple[Fault, ...] = ALL_FAULTS
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)  # noqa: S311 - a reproducible test fault, not a secret

    def pick(self, method: str) -> Failure | None:
        """A failure for this call, or None; counts what it injects by kind."""
        if self.methods is not None and method not in self.methods:
            return None
        if self._rng.random() >= self.rate:
            return None
        kind = self._rng.choice(self.kinds)
        self.injected[kind.value] = self.injected.get(kind.value, 0) + 1
        if kind is Fault.RATELIMITED:
            return Failure(429, "ratelimited", 1, 1)
        if kind is Fault.SERVER_ERROR:
            return Failure(500, "fatal_error", None, 1)
        return Failure(DROPPED, "dropped", None, 1, after=kind is Fault.DROP_AFTER)
