"""The in-memory queues of a lingering outbox drain: due rows by channel, first in, first out.

A drain that lingers in real time reads the ids of due rows on every pass, loads only the rows
it does not hold yet, and keeps them here by limiter key until the key's next slot. Nothing is
written to move a waiting row (its row stays due in the table, so a crash or the next drain
finds it as it was); a row handed to a sender is `in_flight` until its send is over, so a
pass that reads its id again (still due until the claim commits) does not queue it twice.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from typing import Generic, TypeVar

R = TypeVar("R")


class ChannelQueues(Generic[R]):
    """Rows by limiter key, in the order they were pushed; the drain thread pushes and pops,
    sender threads report `finished`."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[tuple[int, int, R]]] = {}
        self._held: set[int] = set()  # ids queued or in flight
        self._lock = threading.Lock()
        self._seq = itertools.count()

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def unknown(self, ids: list[int]) -> list[int]:
        """The ids (in the given order) neither queued nor in flight."""
        with self._lock:
            return [i for i in ids if i not in self._held]

    def push(self, key: str, row_id: int, row: R) -> None:
        """Queue `row` behind the others of `key`."""
        with self._lock:
            self._held.add(row_id)
        self._queues.setdefault(key, deque()).append((next(self._seq), row_id, row))

    def heads(self) -> list[str]:
        """The keys with rows waiting, the one whose head was queued first first."""
        return sorted(self._queues, key=lambda k: self._queues[k][0][0])

    def pop(self, key: str) -> R:
        """Take the head row of `key`; it stays held (in flight) until `finished`."""
        queue = self._queues[key]
        _, _, row = queue.popleft()
        if not queue:
            del self._queues[key]
        return row

    def finished(self, row_id: int) -> None:
        """The send of `row_id` is over: a later pass may queue it again if it is due again."""
        with self._lock:
            self._held.discard(row_id)
