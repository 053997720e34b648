"""Record, ack, hand on: how a listener turns a Slack request into an inbox row and its work.

The listener makes no network call and one short write (`Inbox.accept`), then returns the ack;
a bounded pool of workers runs the row (`bot/services/inbox.py` says how a row is done exactly
once). The demo runs a row at once in the listener instead (`inline`), so each line's answer
is in its ack body, as Slack shows it. Rows whose worker died are run by the `inbox` job.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from slack_bolt import BoltContext

from bot.errors import TemporaryError
from bot.services.container import Services
from bot.services.inbound import first_time
from bot.services.inbox import Claimed, Inbox, InboxLost
from bot.services.journal import Journal
from bot.services.journal_ingest import JournalIngest
from bot.slack.blocks import Message
from handlers import fallback
from handlers.answers import interaction, queue_answer

logger = logging.getLogger(__name__)

#: What a row's work raises when it trips over its body (a bug, or a body Slack would not send):
#: running it again after the lease would fail the same way.
_BUGS = (AttributeError, TypeError, KeyError, IndexError, ValueError, RecursionError)

#: A row's work: returns a private answer for the request's user (None when it answered itself).
Work = Callable[[dict[str, Any]], Message | None]


def delivery_key(context: BoltContext, kind: str) -> str:
    """The request's dedupe key (named by `handlers.gate.label`), or a fresh key."""
    key = context.get("delivery_key")
    return str(key) if key else f"{kind}:{secrets.token_hex(12)}"


class Intake:
    """The inbox, the work for each kind of row, and the pool that runs them."""

    def __init__(
        self, services: Services, inbox: Inbox, pool: ThreadPoolExecutor, *, inline: bool
    ) -> None:
        self.services = services
        self.inbox = inbox
        self.pool = pool
        self.inline = inline
        self._work: dict[str, Work] = {}
        self._busy = 0
        self._idle = threading.Condition()
        self.journal: JournalIngest | None = None
        self._overflow = 0  # requests recorded in the database since the journal filled up

    def use_journal(self, file: Journal) -> None:
        """Journal requests (`ENVBOT_ACK_JOURNAL`): ingest what it holds, then keep ingesting."""
        journal = JournalIngest(
            file, self.inbox, lambda claimed: self._submit(partial(self._run, claimed, answer=True))
        )
        left = journal.drain()
        logger.info("acks are journaled to %s (%d records from before ingested)", file.path, left)
        journal.start()
        self.journal = journal

    def close(self) -> None:
        """Stop ingesting the journal (what is left in it is ingested at the next start)."""
        if self.journal is not None:
            journal, self.journal = self.journal, None
            journal.close()

    def register(self, kind: str, work: Work) -> None:
        """Say what runs a row of `kind`."""
        self._work[kind] = work

    def take(self, kind: str, key: str, body: dict[str, Any]) -> Message | None:
        """Record the request and hand it on; call from the listener, then ack.

        Returns:
            The answer for the ack body (only when run inline, as the demo does).
        """
        if not self.inline and self._journaled(key, kind, body):
            return None
        claimed = self.inbox.accept(key, kind, body)
        if claimed is None:
            logger.info("dropped a duplicate Slack delivery", extra={"dedupe_key": key})
            return None
        if self.inline:
            return self._run(claimed, answer=False)
        self._submit(partial(self._run, claimed, answer=True))
        return None

    def _journaled(self, key: str, kind: str, body: dict[str, Any]) -> bool:
        journal = self.journal
        if journal is None:
            return False
        if journal.refusing():  # the database has refused the journal's records for a while
            raise TemporaryError(
                f"envbot cannot write to its database (for {journal.outage():.0f} s now), so this "
                "request was not recorded."
            )
        try:
            appended = journal.journal.append(key, kind, body)
        except Exception:  # closed, or a body JSON cannot hold: the inbox records it instead
            logger.exception("could not journal a request; recording it in the database")
            return False
        if appended:
            journal.notify()
            if self._overflow:  # said once per episode, not once per request of a burst
                logger.info(
                    "the ack journal has room again; %d requests went to the database meanwhile",
                    self._overflow,
                )
                self._overflow = 0
        else:
            if not self._overflow:
                logger.warning("the ack journal is full; recording the request in the database")
            self._overflow += 1
        return appended

    def first_time(self, key: str) -> bool:
        """Record the key of a request run in the listener (one that opens a form)."""
        return first_time(self.services.sessions, self.services.clock, key)

    def resume_due(self) -> int:
        """The `inbox` job: run the rows whose worker died (their lease lapsed)."""
        run, dropped = self.inbox.claim_due()
        for claimed in dropped:
            logger.error(
                "dropped an inbox row after its runs failed",
                extra={"dedupe_key": claimed.key, "inbox_kind": claimed.kind},
            )
        for claimed in run:
            logger.info(
                "running an inbox row again",
                extra={"dedupe_key": claimed.key, "attempt": claimed.attempts},
            )
            self._submit(partial(self._run, claimed, answer=True))
        return len(run)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no handed-on work is queued or running (tests, the bench)."""
        journal = self.journal
        if journal is not None:  # journaled requests are handed on once ingested
            for _ in range(int(timeout / 0.005)):
                if not journal.journal.backlog():
                    break
                time.sleep(0.005)
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    # -- running ---------------------------------------------------------------------------

    def _submit(self, task: Callable[[], object]) -> None:
        with self._idle:
            self._busy += 1

        def done() -> None:
            try:
                task()
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

        try:
            self.pool.submit(done)
        except RuntimeError:  # shutting down: the row stays, run after its lease elsewhere
            with self._idle:
                self._busy -= 1
                self._idle.notify_all()

    def _run(self, claimed: Claimed, *, answer: bool) -> Message | None:
        work = self._work.get(claimed.kind)
        if work is None:
            logger.error("no work for inbox rows of kind %s", claimed.kind)
            return None
        # the worker's answer goes in a later transaction than the first write: a fallback
        # goes with that write, in case a crash comes between (`handlers.fallback`)
        standby = (
            fallback.for_request(
                self.services, claimed.body, interaction(claimed.body), self.inbox.lease
            )
            if answer
            else None
        )
        try:
            with (
                self.inbox.running(claimed, standby.queue if standby else None),
                fallback.active(standby),
            ):
                message = work(claimed.body)
                if answer and message:
                    queue_answer(self.services, claimed.body, message, "answer")
            if standby is not None:
                standby.settle()
        except InboxLost:
            logger.info("an inbox row was done by another run", extra={"dedupe_key": claimed.key})
            return None
        except _BUGS:  # the same body would fail the same way: one log line, and no rerun
            logger.exception(
                "dropped an inbox row its work cannot run", extra={"dedupe_key": claimed.key}
            )
            self.inbox.drop(claimed)
            return None
        except Exception:  # an outage (database, network): run again after the lease, 5 times
            logger.exception("an inbox row failed", extra={"dedupe_key": claimed.key})
            return None
        return None if answer else message
