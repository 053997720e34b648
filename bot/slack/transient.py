"""Slack faults that pass (5xx, 429, timeouts, lost connections): retry once, then give up."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from slack_sdk.errors import SlackApiError

from bot.errors import TemporaryError

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: What the user reads (the error handler adds "Please try again in a minute.").
SLACK_DID_NOT_ANSWER = "Slack did not answer."
#: The longest a listener waits before its one retry: well under Slack's 3 s ack.
QUICK_RETRY_BUDGET = 1.0
QUICK_RETRY_DELAY = 0.2


def temporary_delay(exc: Exception) -> float | None:
    """How long to wait before retrying a call that raised `exc`; None if it is not temporary."""
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        if status == 429:
            try:
                return max(0.0, float(exc.response.headers.get("Retry-After", "5")))
            except ValueError:
                return 5.0
        return QUICK_RETRY_DELAY if status >= 500 else None
    # Timeouts, refused or reset connections, DNS: urllib's URLError and TimeoutError are OSErrors.
    return QUICK_RETRY_DELAY if isinstance(exc, OSError) else None


def call_quickly(
    fn: Callable[[], T],
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    retries: int = 1,
) -> T:
    """`fn()`, retried up to `retries` times when Slack's fault is temporary and the wait
    (Retry-After on a 429) fits the quick budget.

    Raises:
        TemporaryError: still failing, or Slack asked for a longer wait (`retry_after`).
    """
    attempt = 0
    while True:
        try:
            return fn()
        except (SlackApiError, OSError) as exc:
            delay = temporary_delay(exc)
            if delay is None:
                raise
            if attempt >= retries or delay > QUICK_RETRY_BUDGET:
                logger.info("Slack %s failed, giving up for now: %s", what, _describe(exc))
                raise TemporaryError(SLACK_DID_NOT_ANSWER, max(delay, 1.0)) from exc
            attempt += 1
            sleep(delay)


def _describe(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"HTTP {exc.response.status_code} {exc.response.get('error')}"
    return f"{type(exc).__name__}: {exc}"
