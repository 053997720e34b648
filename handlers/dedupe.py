"""Drops Slack deliveries already handled (Events API retries, replayed clicks) before any listener.

Slack retries an event it thinks timed out, even while the first delivery is still running;
the `inbound` table makes the first copy win on every replica and acks the rest with no work.
envbot's own app only names the key here (`context["delivery_key"]`): its listeners record it
with the request's inbox row (`handlers.intake`), in one transaction, so no ack goes out for a
request that is not recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.request import BoltRequest
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.clock import Clock
from bot.services.inbound import delivery_key, first_time

Middleware = Callable[[BoltRequest, dict[str, Any], Callable[[], BoltResponse]], Any]


def dedupe_middleware(
    sessions: sessionmaker[Session], clock: Clock, *, record: bool = True
) -> Middleware:
    """A Bolt global middleware that acks a seen event or click without calling its listener.

    Args:
        sessions: the bot's sessionmaker (one INSERT per deduped request).
        clock: the source of the key's `received_at` (for retention).
        record: record the key here; False leaves it to the listener (it is in the context).

    Returns:
        The middleware, for `app.use(...)`.
    """

    def dedupe(
        request: BoltRequest, body: dict[str, Any], next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        key = delivery_key(body)
        if key is not None and not record:
            request.context["delivery_key"] = key
            return next()
        if key is None or first_time(sessions, clock, key):
            return next()
        retry = (request.headers.get("x-slack-retry-num") or [""])[0]
        logging.getLogger(__name__).info(
            "dropped a duplicate Slack delivery",
            extra={"dedupe_key": key, "slack_retry_num": retry},
        )
        return BoltResponse(status=200, body="")

    return dedupe


def register_dedupe(
    app: App, sessions: sessionmaker[Session], clock: Clock, *, record: bool = True
) -> None:
    """Install the dedupe middleware; call before the listeners are registered.

    Args:
        app: the Bolt app.
        sessions: the bot's sessionmaker.
        clock: the bot's clock.
        record: see `dedupe_middleware`.
    """
    app.use(dedupe_middleware(sessions, clock, record=record))
