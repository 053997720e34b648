"""The fallback answer: queued with a request's first write, replaced by its real answer.

A worker's first transaction that writes anything also deletes the request's inbox row
(`bot.services.inbox`), so nothing runs the request again after it; its private answer is
queued in a later transaction. A `kill -9` between the two would leave the user unanswered. So
that first transaction also queues this fallback for the request's response_url, due only
after a delay (the inbox lease); the real answer, queued by `handlers.answers.queue_answer`,
withdraws it in its own transaction (or is itself the first write, and then none is queued), and
a run that ends without answering withdraws it at its end. Normally the user gets exactly one
answer and never the fallback; after a crash in that window, the fallback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from bot.services.container import Services
from bot.slack.blocks import Message

logger = logging.getLogger(__name__)

#: The outbox row's purpose (and the suffix of its key), so the real answer can find it.
PURPOSE = "fallback"
#: The words every fallback carries (the tests and the bench find it by them).
MARK = "could not send you its answer"

_CURRENT: ContextVar[Fallback | None] = ContextVar("envbot_fallback", default=None)


@dataclass
class Fallback:
    """The fallback of one run of an inbox row; `queue` is the inbox's first-write hook."""

    services: Services
    url: str
    channel: str
    user: str
    key: str  # the invocation's key (its trigger_id): the answers' keys start with it
    message: Message
    delay: timedelta
    queued: bool = False  # the fallback row was written with the run's first write
    answering: bool = False  # the transaction now committing queues the real answer
    replaced: bool = False  # the real answer was queued (and withdrew the fallback)

    @property
    def row_key(self) -> str:
        """The key passed to `Notifier.respond` (it prefixes `resp:<user>:`)."""
        return f"{self.key}:{PURPOSE}"

    def queue(self, s: Session) -> None:
        """Add the fallback to the transaction deleting the inbox row, unless that transaction
        is the real answer's (then the first write already is the answer)."""
        if self.answering:
            return
        now = self.services.clock.now()
        self.services.notifier.respond(
            s,
            now=now,
            key=self.row_key,
            url=self.url,
            channel=self.channel,
            user_id=self.user,
            message=self.message,
            due_at=now + self.delay,
            purpose=PURPOSE,
        )
        self.queued = True

    def settle(self) -> None:
        """After a run that ended without queueing an answer: withdraw the fallback (the work
        answered some other way, or had nothing to say)."""
        if not self.queued or self.replaced:
            return
        with self.services.sessions.begin() as s:
            self.services.notifier.withdraw_response(s, user_id=self.user, key=self.row_key)


def for_request(
    services: Services, body: dict[str, Any], target: tuple[str, str, str, str], delay: timedelta
) -> Fallback | None:
    """The fallback of a request that has a response_url and a user (None otherwise: a form
    submission or an event has no response_url, and is answered, if at all, by DM).
    `target` is `handlers.answers.interaction(body)`."""
    url, channel, user, key = target
    if not url or not user or not body.get("trigger_id"):
        return None
    return Fallback(services, url, channel, user, key, {"text": wording(body)}, delay)


def wording(body: dict[str, Any]) -> str:
    """What is known when the answer is missing: the request arrived and its work began."""
    command = str(body.get("command") or "")
    if command:
        line = f"{command} {body.get('text') or ''}".strip()
        what = f"your `{line[:200]}`"
        where = f"`{command} list` shows where it stands"
    else:
        what = f"your press of *{_button(body)}*"
        where = "the card, `/env list` or `/access list` show where it stands"
    return (
        f"envbot received {what} and started on it, but {MARK} (it restarted, or the answer is "
        f"late). {where[0].upper()}{where[1:]}; there is no need to send it again."
    )


def _button(body: dict[str, Any]) -> str:
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions else {}
    label = first.get("text") if isinstance(first, dict) else None
    text = label.get("text") if isinstance(label, dict) else None
    return str(text)[:75] if text else "a button"


def current() -> Fallback | None:
    """The fallback of the run on this thread, if any."""
    return _CURRENT.get()


@contextmanager
def active(fallback: Fallback | None) -> Iterator[None]:
    """Make `fallback` the current run's (for `queue_answer`) within the block."""
    token = _CURRENT.set(fallback)
    try:
        yield
    finally:
        _CURRENT.reset(token)
