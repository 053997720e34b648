"""Moves the ack journal's records into the inbox, then hands the new rows to the workers.

One thread (`start`) wakes when a listener has journaled a request (`notify`), lets a burst
finish (it polls the journal's length until it stops growing for `QUIET`, `GATHER` at most),
then records what the journal holds in one inbox transaction (`Inbox.record_many`, with the
dedupe keys: a replayed key is dropped there, so a replay has no effect), hands each new row on,
then marks the records consumed in the journal. A crash between the commit and the mark ingests
the same records again after the restart, and the keys drop them; their rows are run by the
`inbox` job when their lease lapses.
`envbot serve` ingests what the journal holds before it serves (`drain`).

Why it waits: woken by every append, it ingested a burst of 200 acks in about 66 passes of 3
records, at about 2 ms of CPU a pass, holding the GIL the burst's listeners wait for (120-130 ms
of the ingester's CPU in each burst of 200, beside 250-500 ms of waitress's own I/O thread;
docs/PERFORMANCE.md, P1). Gathered: about 6 passes and 23-40 ms of CPU a burst, and a row's
work starts at most `GATHER` later. A pass is one batch: what arrived during it waits for the
next quiet moment (a drain until empty ran a pass per few acks while a slow burst went on),
unless the pass was full (`BATCH`); `close` drains what is left.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable

from bot.services.inbound import bounded
from bot.services.inbox import Claimed, Inbox
from bot.services.journal import Journal

logger = logging.getLogger(__name__)

#: Seconds between tries while the database refuses the records (they stay in the journal).
RETRY = 1.0
#: A burst has ended when the journal has not grown for this long (seconds).
QUIET = 0.05
#: The longest a woken ingester waits for a burst to end before it ingests anyway (seconds).
GATHER = 1.0
#: Records a pass moves at most; after a full pass the next one goes at once (a backlog is not
#: held to one batch per quiet moment).
BATCH = 256
#: After the database has refused the records this long, the listener stops journaling new
#: requests and tells their users to try again (seconds): what a lost journal file can take with
#: it stays what arrived in the outage's first seconds (docs/RELIABILITY.md).
REFUSE_AFTER = 10.0


class JournalIngest:
    """The journal's one reader: into the inbox, then `hand_on(claimed)` for each new row."""

    def __init__(self, journal: Journal, inbox: Inbox, hand_on: Callable[[Claimed], None]) -> None:
        self.journal = journal
        self.inbox = inbox
        self.hand_on = hand_on
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing_since: float | None = None  # monotonic time of an outage's first failure

    def notify(self) -> None:
        """A record was appended (no system call, no release of the GIL when nobody waits)."""
        self._wake.set()

    def outage(self) -> float:
        """Seconds since the database first refused a pass of this outage (0 when it takes them)."""
        since = self._failing_since
        return 0.0 if since is None else time.monotonic() - since

    def refusing(self) -> bool:
        """True when new requests should not be journaled: the outage is past `REFUSE_AFTER`."""
        return self.outage() > REFUSE_AFTER

    def ingest(self) -> int:
        """Move one batch from the journal into the inbox; the number of records it held."""
        records = self.journal.pending(BATCH)
        if not records:
            return 0
        claims: dict[str, Claimed] = {}
        batch = secrets.token_hex(6)  # one draw a pass: a run id is the batch's and an index
        for i, record in enumerate(records):
            key = bounded(record.key)
            claims.setdefault(key, Claimed(key, record.kind, record.body, f"{batch}{i:04x}"))
        added = self.inbox.record_many(claims)
        for key, claimed in claims.items():
            if key in added:
                self.hand_on(claimed)
            else:  # a replay: the same answer as today's path logs, and no effect
                logger.info("dropped a duplicate Slack delivery", extra={"dedupe_key": key})
        # consumed after the hand-on, so an empty journal means every new row is with a worker
        self.journal.consume(records[-1].end)
        return len(records)

    def drain(self) -> int:
        """Ingest until the journal is empty (start-up); the number of records moved."""
        moved = 0
        while n := self.ingest():
            moved += n
        return moved

    def start(self) -> None:
        """Ingest on a thread of its own until `close`."""
        self._thread = threading.Thread(target=self._loop, name="envbot-journal", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread once it has drained the journal into the inbox and handed the rows
        on (what the database refuses stays in the journal file)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if left := self.journal.backlog():  # the database refused the last pass
            logger.warning(
                "%d bytes of acknowledged requests are left in the ack journal %s: the next "
                "start with this file ingests them (a file that is deleted loses them)",
                left,
                self.journal.path,
            )
        self.journal.close()

    def _gather(self) -> None:
        """Return once the journal stopped growing for `QUIET`, or after `GATHER`."""
        deadline = time.monotonic() + GATHER
        seen = self.journal.backlog()
        while time.monotonic() < deadline and not self._stop.is_set():
            time.sleep(QUIET)  # asleep, not waiting on `_wake`: an append does not wake it
            now = self.journal.backlog()
            if now == seen:
                return
            seen = now

    def _loop(self) -> None:
        full = False  # the last pass took a whole batch: the next one goes at once
        while not self._stop.is_set():
            if not full:
                self._wake.wait(RETRY)
                self._gather()
            self._wake.clear()
            full = False
            try:
                # one pass a gather: what arrives during it waits for the burst to end
                full = self.ingest() >= BATCH
                if self.journal.backlog():
                    self._wake.set()
            except Exception:  # the database is down: the records wait in the journal
                if self._failing_since is None:
                    self._failing_since = time.monotonic()
                logger.exception("could not move the ack journal into the inbox; retrying")
                self._stop.wait(RETRY)
            else:
                if self._failing_since is not None:
                    logger.info("the ack journal is moving into the inbox again")
                self._failing_since = None
        try:  # `close`: what was acked up to now goes to the workers, not to the next start
            self.drain()
        except Exception as exc:  # noqa: BLE001 - `close` names the file and what is left in it
            logger.warning("could not move the ack journal into the inbox at shutdown: %s", exc)
