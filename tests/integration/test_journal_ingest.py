"""The ack journal's ingester on the test database (SQLite, or PostgreSQL): records left by a
process that died are recorded once and handed on once, a replayed key (in the journal twice, or
already recorded) is dropped, and a crash between the commit and the consumed mark repeats
nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.clock import ManualClock
from bot.services.inbox import Claimed, Inbox
from bot.services.journal import Journal
from bot.services.journal_ingest import JournalIngest

LEASE = timedelta(seconds=30)
SIZE = 64 * 1024


def test_journaled_records_are_recorded_and_handed_on_once_each(
    sessions: sessionmaker[Session], clock: ManualClock, tmp_path: Path
) -> None:
    # setup: a key already recorded by the database path, and a journal (left by a process
    # that died) holding a new key twice and the recorded one
    inbox = Inbox(sessions, clock, LEASE)
    assert inbox.accept("command:T0", "command", {"text": "old"}) is not None
    left = Journal(tmp_path / "acks", SIZE)
    for key in ("command:T1", "command:T0", "command:T1", "command:T2"):
        assert left.append(key, "command", {"text": key})
    left.close()
    handed: list[Claimed] = []

    # execution: the start's drain
    ingest = JournalIngest(Journal(tmp_path / "acks", SIZE), inbox, handed.append)
    moved = ingest.drain()

    # validating: four records read, two new rows, each handed on once; nothing left
    assert moved == 4
    assert sorted(c.key for c in handed) == ["command:T1", "command:T2"]
    assert inbox.pending() == 3
    assert ingest.journal.backlog() == 0
    ingest.close()
    assert Journal(tmp_path / "acks", SIZE).pending() == []


def test_a_crash_between_the_commit_and_the_mark_repeats_nothing(
    sessions: sessionmaker[Session], clock: ManualClock, tmp_path: Path
) -> None:
    # setup: a pass that committed its rows and died before marking them consumed
    inbox = Inbox(sessions, clock, LEASE)
    journal = Journal(tmp_path / "acks", SIZE)
    journal.append("command:T1", "command", {"text": "create"})
    died: list[Claimed] = []

    def crash(claimed: Claimed) -> None:
        died.append(claimed)
        raise SystemExit  # the process ends before the mark

    try:
        JournalIngest(journal, inbox, crash).ingest()
    except SystemExit:
        journal.close()

    # execution: the restart
    handed: list[Claimed] = []
    again = JournalIngest(Journal(tmp_path / "acks", SIZE), inbox, handed.append)
    moved = again.drain()

    # validating: the record was read again and dropped by its key; its row waits for its
    # lease (the `inbox` job runs it), once
    assert [c.key for c in died] == ["command:T1"]
    assert (moved, handed, inbox.pending()) == (1, [], 1)
    clock.advance(LEASE * 2)
    run, dropped = inbox.claim_due()
    assert ([c.key for c in run], dropped) == (["command:T1"], [])
    again.close()


def test_records_wait_in_the_journal_while_the_database_refuses_them(
    sessions: sessionmaker[Session], clock: ManualClock, tmp_path: Path
) -> None:
    # setup: an inbox whose write fails as when the database is down (injected)
    inbox = Inbox(sessions, clock, LEASE)
    journal = Journal(tmp_path / "acks", SIZE)
    journal.append("command:T1", "command", {})
    handed: list[Claimed] = []
    ingest = JournalIngest(journal, inbox, handed.append)
    working = inbox.record_many

    def down(claims: dict[str, Claimed]) -> set[str]:
        raise ConnectionError("the database is down")

    inbox.record_many = down  # type: ignore[method-assign]

    # execution: a pass fails, then one after the database is back
    with pytest.raises(ConnectionError):
        ingest.ingest()
    left = journal.backlog()
    inbox.record_many = working  # type: ignore[method-assign]
    moved = ingest.ingest()

    # validating
    assert left > 0
    assert (moved, [c.key for c in handed]) == (1, ["command:T1"])
    ingest.close()
