"""The journal's ingester lets a burst of acks finish before it ingests (one pass for the burst,
not one per ack), but never waits past `GATHER` while acks keep coming; what the database
refused is named at shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import pytest

from bot.services import journal_ingest
from bot.services.inbox import Claimed, Inbox
from bot.services.journal import Journal
from bot.services.journal_ingest import JournalIngest

SIZE = 256 * 1024


class Passes:
    """An inbox that records which keys each pass brought (every key is new)."""

    def __init__(self) -> None:
        self.passes: list[list[str]] = []

    def record_many(self, claims: dict[str, Claimed]) -> set[str]:
        self.passes.append(sorted(claims))
        return set(claims)


def running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quiet: float, gather: float
) -> tuple[Passes, list[Claimed], Journal, JournalIngest]:
    """A started ingester with these `QUIET` and `GATHER`, its inbox and what it handed on."""
    monkeypatch.setattr(journal_ingest, "QUIET", quiet)
    monkeypatch.setattr(journal_ingest, "GATHER", gather)
    inbox, handed = Passes(), list[Claimed]()
    journal = Journal(tmp_path / "acks", SIZE)
    ingest = JournalIngest(journal, cast(Inbox, inbox), handed.append)
    ingest.start()
    return inbox, handed, journal, ingest


def appended(journal: Journal, ingest: JournalIngest, key: str) -> None:
    assert journal.append(key, "command", {"text": key})
    ingest.notify()  # as the listener does


def filled(journal: Journal, n: int) -> None:
    """N records in the journal before an ingester runs (acks a stopped process left)."""
    for i in range(n):
        assert journal.append(f"command:T{i}", "command", {"text": str(i)})


def until(done: Callable[[], bool], seconds: float = 30.0) -> None:
    """Poll `done` every 10 ms until it holds or `seconds` pass (the asserts say what failed)."""
    for _ in range(int(seconds / 0.01)):
        if done():
            return
        time.sleep(0.01)


def test_acks_that_arrive_within_the_quiet_time_are_ingested_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup: a quiet time far above the gap between the acks (no timing margin is thin)
    inbox, handed, journal, ingest = running(tmp_path, monkeypatch, quiet=0.3, gather=30.0)

    # execution: five acks 10 ms apart (before, the first woke the ingester at once)
    for i in range(5):
        appended(journal, ingest, f"command:T{i}")
        time.sleep(0.01)
    until(lambda: len(handed) == 5, seconds=10)
    ingest.close()

    # validating: all five handed on, in one pass
    assert inbox.passes == [[f"command:T{i}" for i in range(5)]]
    assert [c.key for c in handed] == [f"command:T{i}" for i in range(5)]


def test_acks_that_keep_coming_are_ingested_after_gather_at_most(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup: a burst that never pauses for the quiet time, and a short GATHER
    inbox, handed, journal, ingest = running(tmp_path, monkeypatch, quiet=0.2, gather=0.3)

    # execution: an ack every 20 ms until the first ones have been handed on (at most 30 s)
    sent = 0
    deadline = time.monotonic() + 30
    while not handed and time.monotonic() < deadline:
        appended(journal, ingest, f"command:T{sent}")
        sent += 1
        time.sleep(0.02)
    ingest.close()

    # validating: the first pass came while acks were still coming (after about GATHER, some
    # 15 acks, not the 30 s of acks a wait for a quiet moment would have taken), each record once
    assert handed, "nothing was ingested while acks kept coming"
    assert sent < 500
    keys = [k for one in inbox.passes for k in one]
    assert len(keys) == len(set(keys))


def test_records_the_database_refused_are_named_at_shutdown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # setup: a journaled ack, and an inbox that refuses it (the database is down)
    tried = threading.Event()

    class Down(Passes):
        def record_many(self, claims: dict[str, Claimed]) -> set[str]:
            tried.set()
            raise ConnectionError("the database is down")

    journal = Journal(tmp_path / "acks", SIZE)
    ingest = JournalIngest(journal, cast(Inbox, Down()), list[Claimed]().append)
    ingest.start()
    appended(journal, ingest, "command:T1")

    # execution: the shutdown, after a pass failed
    assert tried.wait(30)
    ingest.close()

    # validating: a warning names the file and that the next start ingests it; it is still there
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("left in the ack journal" in m and str(journal.path) in m for m in warned), warned
    assert [r.key for r in Journal(tmp_path / "acks", SIZE).pending()] == ["command:T1"]


def test_acks_that_arrive_during_a_pass_wait_for_the_next_quiet_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup: a first pass during which five more acks start arriving, 10 ms apart
    quiet = 0.3  # far above the gap between the acks
    monkeypatch.setattr(journal_ingest, "QUIET", quiet)
    monkeypatch.setattr(journal_ingest, "GATHER", 30.0)
    journal = Journal(tmp_path / "acks", SIZE)
    late: list[threading.Thread] = []

    def more() -> None:
        for i in range(5):
            appended(journal, ingest, f"command:L{i}")
            time.sleep(0.01)

    class Arriving(Passes):
        def record_many(self, claims: dict[str, Claimed]) -> set[str]:
            if not self.passes:
                late.append(threading.Thread(target=more))
                late[0].start()
            return super().record_many(claims)

    inbox, handed = Arriving(), list[Claimed]()
    ingest = JournalIngest(journal, cast(Inbox, inbox), handed.append)
    ingest.start()

    # execution: one ack, then the five that come while its pass runs
    appended(journal, ingest, "command:T0")
    until(lambda: len(handed) == 6)
    late[0].join()
    ingest.close()

    # validating: the five came in one pass after the first (a drain until empty took the
    # journal again as soon as the first pass ended, splitting them)
    assert inbox.passes == [["command:T0"], [f"command:L{i}" for i in range(5)]]


def test_a_close_during_a_pass_moves_everything_left_before_it_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup: more records than one pass takes, and a stop asked for during the first pass
    monkeypatch.setattr(journal_ingest, "QUIET", 0.01)
    journal = Journal(tmp_path / "acks", SIZE)
    n = journal_ingest.BATCH + 44
    filled(journal, n)
    closing: list[threading.Thread] = []

    class Closing(Passes):
        def record_many(self, claims: dict[str, Claimed]) -> set[str]:
            if not self.passes:
                closing.append(threading.Thread(target=ingest.close))
                closing[0].start()
                time.sleep(0.2)  # the stop is asked for while this pass runs
            return super().record_many(claims)

    inbox, handed = Closing(), list[Claimed]()
    ingest = JournalIngest(journal, cast(Inbox, inbox), handed.append)

    # execution
    ingest.start()
    ingest.notify()
    until(lambda: bool(closing))
    closing[0].join(30)

    # validating: every record went to the workers, none was left for the next start
    assert len(handed) == n
    assert [len(one) for one in inbox.passes] == [journal_ingest.BATCH, 44]


def test_a_full_pass_is_followed_at_once_not_after_another_quiet_moment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup: a backlog of two full passes and a bit, and every gather counted
    journal = Journal(tmp_path / "acks", SIZE)
    n = 2 * journal_ingest.BATCH + 10
    filled(journal, n)
    gathers = [0]
    gather = JournalIngest._gather

    def counted(self: JournalIngest) -> None:
        gathers[0] += 1
        gather(self)

    monkeypatch.setattr(JournalIngest, "_gather", counted)

    class Counting(Passes):
        def __init__(self) -> None:
            super().__init__()
            self.gathered: list[int] = []

        def record_many(self, claims: dict[str, Claimed]) -> set[str]:
            self.gathered.append(gathers[0])
            return super().record_many(claims)

    inbox, handed = Counting(), list[Claimed]()
    ingest = JournalIngest(journal, cast(Inbox, inbox), handed.append)

    # execution
    ingest.start()
    ingest.notify()
    until(lambda: len(handed) == n)
    ingest.close()

    # validating: one gather before the first pass; the passes after a full one did not wait
    assert [len(one) for one in inbox.passes] == [journal_ingest.BATCH, journal_ingest.BATCH, 10]
    assert inbox.gathered == [1, 1, 1]
