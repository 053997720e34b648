"""The fake Slack's rate limiter for chat.postMessage, as Slack documents its special tier.

Slack "will generally allow an app to post 1 message per second to a specific channel",
with short bursts tolerated, and a workspace-wide limit above that ("several hundred
messages per minute"). A refused call answers HTTP 429 `ratelimited` with a `Retry-After`
header in whole seconds. Both limits are token buckets: a conversation's (keyed by the
resolved conversation id, so `#name`, `C…`, a user id and its `D…` share one) and the
workspace's; a call passes only when both have a token, and takes one from each.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimits:
    """Tokens per second and bucket size, per conversation and for the whole workspace
    (`workspace_rate` None: no workspace limit)."""

    per_channel: float = 1.0
    channel_burst: int = 2
    workspace_rate: float | None = None
    workspace_burst: int = 10

    def __post_init__(self) -> None:
        if self.per_channel <= 0 or self.channel_burst < 1:
            raise ValueError("per_channel must be > 0 and channel_burst >= 1")
        if self.workspace_rate is not None and (
            self.workspace_rate <= 0 or self.workspace_burst < 1
        ):
            raise ValueError("workspace_rate must be > 0 and workspace_burst >= 1")

    def floor(self, per_channel_counts: list[int]) -> float:
        """The least time in seconds in which these limits let every conversation post its
        count, the first posts at 0 (each bucket starts full)."""
        channel = max(
            ((n - self.channel_burst) / self.per_channel for n in per_channel_counts), default=0
        )
        workspace = 0.0
        if self.workspace_rate is not None:
            workspace = (sum(per_channel_counts) - self.workspace_burst) / self.workspace_rate
        return max(channel, workspace, 0.0)


class _Bucket:
    def __init__(self, rate: float, size: int, now: float) -> None:
        self.rate, self.size = rate, size
        self.tokens, self.at = float(size), now

    def refill(self, now: float) -> None:
        self.tokens = min(self.size, self.tokens + (now - self.at) * self.rate)
        self.at = max(self.at, now)

    def wait(self) -> float:
        """Seconds until a whole token is there (0 if one is)."""
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class Limiter:
    """Decides whether a chat.postMessage to a conversation passes now; thread-safe."""

    def __init__(self, limits: RateLimits, now: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._now = now
        self._lock = threading.Lock()
        self._channels: dict[str, _Bucket] = {}
        self._workspace: _Bucket | None = None
        self.refused = {"channel": 0, "workspace": 0}  # by the bucket that was empty

    def take(self, conversation: str) -> int | None:
        """Take a token for `conversation`; None when it passes, else the Retry-After in
        whole seconds (at least 1) after which it would."""
        with self._lock:
            now = self._now()
            buckets = [self._channel(conversation, now)]
            if self.limits.workspace_rate is not None:
                if self._workspace is None:
                    size = self.limits.workspace_burst
                    self._workspace = _Bucket(self.limits.workspace_rate, size, now)
                buckets.append(self._workspace)
            for bucket in buckets:
                bucket.refill(now)
            wait = max(bucket.wait() for bucket in buckets)
            if wait > 0:
                self.refused["channel" if buckets[0].wait() > 0 else "workspace"] += 1
                return max(1, math.ceil(wait))
            for bucket in buckets:
                bucket.tokens -= 1
            return None

    def _channel(self, conversation: str, now: float) -> _Bucket:
        bucket = self._channels.get(conversation)
        if bucket is None:
            bucket = _Bucket(self.limits.per_channel, self.limits.channel_burst, now)
            self._channels[conversation] = bucket
        return bucket
