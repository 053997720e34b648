"""When the outbox drain may next send to a channel, and to the workspace; thread-safe.

Each channel's next send is timed from its own last send (`start`: the moment the send was
let go, plus `per_channel`), or from a 429's Retry-After (`hold`), never from when a drain
started. A send made a little late (the drain woke late, at most `CATCH_UP` of a slot) times
the next from the slot it was due at, so the lateness of each wake-up does not add up over a
channel's backlog: two sends are then a little under `per_channel` apart, which Slack's
tolerance of short bursts covers, and over any longer window the rate stays one per slot.
A channel with a send in flight stays busy until it is `done`, so its messages never overtake
each other. An optional workspace budget (a token bucket of `workspace_rate` sends a second,
`workspace_burst` deep) bounds the sends across all channels, as Slack's workspace-wide limit
does.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

#: The share of a slot by which a late send may be caught up on the next one.
CATCH_UP = 0.1
#: How soon to look again at a channel whose send has not answered yet.
IN_FLIGHT_POLL = timedelta(milliseconds=20)


class Pacer:
    """Per-channel next-free times, sends in flight, and the workspace budget."""

    def __init__(
        self,
        per_channel: timedelta,
        workspace_rate: float | None = None,
        workspace_burst: int = 1,
    ) -> None:
        if workspace_rate is not None and (workspace_rate <= 0 or workspace_burst < 1):
            raise ValueError("workspace_rate must be > 0 and workspace_burst >= 1")
        self.per_channel = per_channel
        self._rate = workspace_rate
        self._burst = workspace_burst
        self._lock = threading.Lock()
        # In memory on purpose: only the leader drains, and a restart forgets at most one
        # second of pacing (Slack tolerates short bursts) or a Retry-After whose rows were
        # already moved to `due_at` in the database.
        self._free_at: dict[str, datetime] = {}
        self._in_flight: set[str] = set()
        self._tokens = float(workspace_burst)
        self._tokens_at: datetime | None = None

    def busy_until(self, key: str, now: datetime) -> datetime | None:
        """When `key` (and the workspace) can next take a send, or None if both can now."""
        with self._lock:
            return self._busy_until(key, now)

    def start(self, key: str, now: datetime) -> datetime | None:
        """Reserve a send to `key` now: None when reserved (the channel's next slot is then
        `per_channel` later; call `done` when the send is over), else when to try again."""
        with self._lock:
            busy = self._busy_until(key, now)
            if busy is not None:
                return busy
            self._in_flight.add(key)
            slot = self._free_at.get(key)
            late = slot is not None and now - slot <= self.per_channel * CATCH_UP
            self._free_at[key] = (slot if late and slot else now) + self.per_channel
            if self._rate is not None:
                self._tokens -= 1
            return None

    def done(self, key: str) -> None:
        """The send to `key` is over (sent, refused or not made)."""
        with self._lock:
            self._in_flight.discard(key)

    def workspace_free_at(self, now: datetime) -> datetime | None:
        """When the workspace budget next has a send, or None if it has one now."""
        with self._lock:
            if self._rate is None:
                return None
            self._refill(now)
            if self._tokens >= 1:
                return None
            return now + timedelta(seconds=(1 - self._tokens) / self._rate)

    def hold(self, key: str, until: datetime) -> None:
        """Slack said wait (429 Retry-After): nothing goes to `key` before `until`."""
        with self._lock:
            self._free_at[key] = max(self._free_at.get(key, until), until)

    def _busy_until(self, key: str, now: datetime) -> datetime | None:
        moments = []
        if key in self._in_flight:  # look again in a moment (the send may be slow)
            moments.append(now + IN_FLIGHT_POLL)
        free_at = self._free_at.get(key)
        if free_at is not None and free_at > now:
            moments.append(free_at)
        if self._rate is not None:
            self._refill(now)
            if self._tokens < 1:
                moments.append(now + timedelta(seconds=(1 - self._tokens) / self._rate))
        return max(moments, default=None)

    def _refill(self, now: datetime) -> None:
        if self._tokens_at is not None and self._rate is not None and now > self._tokens_at:
            elapsed = (now - self._tokens_at).total_seconds()
            self._tokens = min(float(self._burst), self._tokens + elapsed * self._rate)
        if self._tokens_at is None or now > self._tokens_at:
            self._tokens_at = now
