"""Private answers to commands and clicks: in the ack body when the answer is ready in time
(Slack shows a slash command's ack body to the user), otherwise through the outbox to the
interaction's response_url, which retries and falls back to an ephemeral, then a DM.

A block_actions ack body is not shown by Slack, so a click's answer always goes the second way.
"""

from __future__ import annotations

import secrets
import threading
from types import TracebackType
from typing import Any

from slack_bolt import Ack

from bot.services.container import Services
from bot.slack.blocks import Message
from handlers import fallback

#: How long a slash command may compute its answer before the empty ack goes (Slack waits 3 s).
ACK_BUDGET = 2.0


def interaction(body: dict[str, Any]) -> tuple[str, str, str, str]:
    """(response_url, channel id, user id, a key unique to this invocation) of a payload."""
    url = str(body.get("response_url") or "")
    channel = body.get("channel_id") or _ref(body.get("channel"))
    user = body.get("user_id") or _ref(body.get("user"))
    key = str(body.get("trigger_id") or secrets.token_hex(8))
    return url, str(channel), str(user), key


def _ref(value: Any) -> str:
    """An id Slack sends either bare or as an object's `id` (the edge admits both shapes)."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def queue_answer(services: Services, body: dict[str, Any], message: Message, what: str) -> bool:
    """Queue `message` for the payload's response_url (a DM when it has none but a user).

    Returns:
        False when the payload names no user to answer.
    """
    url, channel, user, key = interaction(body)
    if not user:
        return False
    if url:
        standby = fallback.current()
        if standby is None or (standby.user, standby.key) != (user, key):
            standby = None
        replaces = standby.row_key if standby is not None else ""
        if standby is not None:
            standby.answering = True  # if this is the run's first write, it queues no fallback
        try:
            services.answer(
                key=f"{key}:{what}",
                url=url,
                channel=channel,
                user_id=user,
                message=message,
                replaces=replaces,
            )
        finally:
            if standby is not None:
                standby.answering = False
        if standby is not None:
            standby.replaced = True
    else:
        services.notify_user(user, message)
    return True


class SlashAnswer:
    """Acks a slash command with its answer if that is ready within `ACK_BUDGET` seconds of the
    request; else the empty ack goes then and the answer is queued for the response_url.

    If the command raises before anything was acked, nothing is acked here: the error handler
    answers in the ack body instead.
    """

    def __init__(
        self, ack: Ack, services: Services, body: dict[str, Any], waited: float = 0.0
    ) -> None:
        self._ack = ack
        self._services = services
        self._body = body
        self._lock = threading.Lock()
        self._acked = False
        # `waited`: how long the request waited before this listener ran (Bolt counts that too).
        self._timer = threading.Timer(max(0.0, ACK_BUDGET - waited), self._ack_empty)
        self._timer.daemon = True

    def __enter__(self) -> SlashAnswer:
        self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._timer.cancel()
            if exc is not None and not self._acked:
                self._acked = True  # the error handler's answer becomes the ack body

    def _ack_empty(self) -> None:
        with self._lock:
            if self._acked:
                return
            self._acked = True
        self._ack()

    def reply(self, message: Message | None) -> None:
        """Answer with `message` (nothing to say when None or empty)."""
        with self._lock:
            self._timer.cancel()
            late = self._acked
            self._acked = True
        if not late:
            if message:
                self._ack(response_type="ephemeral", **message)
            else:
                self._ack()
        elif message:
            queue_answer(self._services, self._body, message, "answer")
