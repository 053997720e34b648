"""The inbound inbox on the test database (SQLite, or PostgreSQL): a replayed key adds nothing,
a row is done in the transaction of its work's first write, a row whose worker died before
writing is run again after its lease, and a second run of a done row commits nothing."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import InboundKey, InboxRow
from bot.domain.clock import ManualClock
from bot.services.inbox import MAX_ATTEMPTS, Inbox, InboxLost

LEASE = timedelta(seconds=30)


def _effects(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(InboundKey).where(InboundKey.key.like("effect:%"))
            )
            or 0
        )


def _effect(sessions: sessionmaker[Session], clock: ManualClock, name: str) -> None:
    """A piece of work's write (any table will do: this one is at hand)."""
    with sessions.begin() as s:
        s.add(InboundKey(key=f"effect:{name}", received_at=clock.now()))


def test_a_replayed_delivery_is_not_recorded_twice(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup
    inbox = Inbox(sessions, clock, LEASE)

    # execution: the delivery, then the same key again (a Slack retry or a replayed body)
    first = inbox.accept("command:T1", "command", {"text": "create sandbox"})
    again = inbox.accept("command:T1", "command", {"text": "create sandbox"})

    # validating
    assert first is not None
    assert again is None
    assert inbox.pending() == 1


def test_concurrent_deliveries_share_transactions_and_each_key_wins_once(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: 24 threads, 12 keys, each sent twice at the same moment
    inbox = Inbox(sessions, clock, LEASE)
    gate = threading.Barrier(24)
    won: list[str] = []

    def send(i: int) -> None:
        gate.wait()
        if inbox.accept(f"command:T{i % 12}", "command", {"i": i}) is not None:
            won.append(f"command:T{i % 12}")

    # execution
    threads = [threading.Thread(target=send, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # validating: every key is recorded and handed on exactly once
    assert sorted(won) == sorted(f"command:T{i}" for i in range(12))
    assert inbox.pending() == 12


def test_a_leader_returns_after_its_own_batch_and_the_next_arrival_leads_the_next(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: each batch's INSERT of keys waits for the test's go-ahead
    inbox = Inbox(sessions, clock, LEASE)
    engine = sessions.kw["bind"]
    started = [threading.Event(), threading.Event()]
    go = [threading.Event(), threading.Event()]
    batches: list[int] = []

    def hold(_c: Any, _cur: Any, statement: str, _p: Any, _ctx: Any, _many: bool) -> None:
        if "INTO INBOUND" in statement.upper():
            n = len(batches)
            batches.append(n)
            started[n].set()
            go[n].wait(10)

    event.listen(engine, "before_cursor_execute", hold)
    got: dict[str, object] = {}

    def send(key: str) -> None:
        got[key] = inbox.accept(key, "command", {})

    leader = threading.Thread(target=send, args=("command:L",))
    follower = threading.Thread(target=send, args=("command:F",))
    try:
        # execution: the leader's batch is committing when the follower arrives
        leader.start()
        assert started[0].wait(10)
        follower.start()
        for _ in range(1000):
            if inbox._batches._queue:
                break
            follower.join(0.01)
        go[0].set()

        # validating: the leader is answered while the follower's own batch is still held
        # (a leader that went on to commit the next batch itself would still be waiting)
        assert started[1].wait(10)
        leader.join(10)
        assert not leader.is_alive()
        assert "command:F" not in got
        go[1].set()
        follower.join(10)
    finally:
        for gate in go:
            gate.set()
        event.remove(engine, "before_cursor_execute", hold)
    assert got["command:L"] is not None
    assert got["command:F"] is not None
    assert inbox.pending() == 2


def test_the_row_is_done_with_the_first_write_so_a_crash_after_it_repeats_nothing(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup
    inbox = Inbox(sessions, clock, LEASE)
    claimed = inbox.accept("command:T2", "command", {})
    assert claimed is not None

    left: list[int] = []

    def work_then_die() -> None:
        _effect(sessions, clock, "T2")
        left.append(inbox.pending())  # gone in the effect's own transaction
        raise RuntimeError("killed")

    # execution: the work writes, then its process dies (an exception stands in for kill -9)
    with pytest.raises(RuntimeError), inbox.running(claimed):
        work_then_die()
    clock.advance(LEASE * 2)
    run, _ = inbox.claim_due()

    # validating: nothing is left to run again
    assert left == [0]
    assert run == []
    assert _effects(sessions) == 1


def test_a_row_whose_worker_died_before_writing_runs_again_after_its_lease(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: the worker dies before the work wrote anything
    inbox = Inbox(sessions, clock, LEASE)
    claimed = inbox.accept("command:T3", "command", {"text": "x"})
    assert claimed is not None
    with pytest.raises(RuntimeError), inbox.running(claimed):
        raise RuntimeError("killed")

    # execution: not before the lease lapses; then another process claims it
    early, _ = inbox.claim_due()
    clock.advance(LEASE + timedelta(seconds=1))
    late, _ = inbox.claim_due()
    assert [c.key for c in late] == ["command:T3"]
    with inbox.running(late[0]):
        _effect(sessions, clock, "T3")

    # validating
    assert early == []
    assert late[0].body == {"text": "x"}
    assert inbox.pending() == 0
    assert _effects(sessions) == 1


def test_a_second_run_of_a_row_another_run_did_commits_nothing(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: a slow worker outlives its lease; another process takes the row over and does it
    inbox = Inbox(sessions, clock, LEASE)
    slow = inbox.accept("command:T4", "command", {})
    assert slow is not None
    clock.advance(LEASE + timedelta(seconds=1))
    (taken,), _ = inbox.claim_due()
    with inbox.running(taken):
        _effect(sessions, clock, "T4-taken")

    # execution: the slow worker's write comes now
    with pytest.raises(InboxLost), inbox.running(slow):
        _effect(sessions, clock, "T4-slow")

    # validating: only the takeover's effect was committed
    assert _effects(sessions) == 1


def test_a_row_that_keeps_failing_is_dropped(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup
    inbox = Inbox(sessions, clock, LEASE)
    assert inbox.accept("command:T5", "command", {}) is not None

    # execution: its runs keep dying before any write
    dropped = []
    for _ in range(MAX_ATTEMPTS + 1):
        clock.advance(LEASE + timedelta(seconds=1))
        _, gone = inbox.claim_due()
        dropped += gone

    # validating
    assert [c.key for c in dropped] == ["command:T5"]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(InboxRow)) == 0


def test_the_batch_stores_times_as_the_orm_does_so_cut_offs_agree(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: a key recorded by the batch at a whole second, one by the ORM at the same moment
    inbox = Inbox(sessions, clock, LEASE)
    inbox.accept("command:T-times", "command", {"text": "list"})
    _effect(sessions, clock, "orm")
    at = clock.now()

    # execution: neither is strictly older than a cut-off at that moment; both are 1 µs later
    with sessions() as s:
        at_cut = s.scalar(
            select(func.count()).select_from(InboundKey).where(InboundKey.received_at < at)
        )
        after_cut = s.scalar(
            select(func.count())
            .select_from(InboundKey)
            .where(InboundKey.received_at < at + timedelta(microseconds=1))
        )
        stored = s.scalars(select(InboundKey.received_at)).all()

    # validating (SQLite compares its stored times as text: "09:00:00" sorts before
    # "09:00:00.000000", so a batch that wrote the shorter form was pruned a moment early)
    assert at_cut == 0
    assert after_cut == 2
    assert set(stored) == {at}
