"""How an ack's record commits (`ENVBOT_DATABASE__ACK_COMMIT`): on PostgreSQL `fast` runs the
batch's own transaction with `synchronous_commit` off and leaves the connection's next
transaction as it was, `durable` keeps the server's setting; on SQLite (whose commit never
waits for the disk) the batch records the same either way, and a key recorded by another path
(the dedupe of a request run in the listener) is not recorded again."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from bot.domain.clock import ManualClock
from bot.services.inbound import first_time
from bot.services.inbox import Inbox
from bot.services.inbox_batch import Claimed, pg_batch

LEASE = timedelta(seconds=30)


def _claims(*keys: str) -> dict[str, Claimed]:
    return {
        key: Claimed(key, "command", {"text": "create sandbox"}, secrets.token_hex(8))
        for key in keys
    }


@pytest.mark.parametrize(("fast", "inside"), [(True, "off"), (False, "on")])
def test_the_batch_sets_synchronous_commit_for_its_own_transaction_only(
    engine: Engine, clock: ManualClock, fast: bool, inside: str
) -> None:
    # setup
    if engine.dialect.name != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    with engine.connect() as conn:
        # execution: the batch's statement inside a transaction the test holds open
        with conn.begin():
            added = pg_batch(conn, clock.now(), LEASE, _claims("command:A", "command:B"), fast=fast)
            during = conn.execute(text("SHOW synchronous_commit")).scalar()
        with conn.begin():
            after = conn.execute(text("SHOW synchronous_commit")).scalar()

    # validating
    assert added == {"command:A", "command:B"}
    assert during == inside
    assert after == "on"


@pytest.mark.parametrize("fast", [True, False])
def test_the_inbox_setting_reaches_the_statement_it_runs(
    sessions: sessionmaker[Session], clock: ManualClock, fast: bool
) -> None:
    # setup: the statements the inbox sends
    engine = sessions.kw["bind"]
    sent: list[str] = []

    def log(_c: Any, _cur: Any, statement: str, _p: Any, _ctx: Any, _many: bool) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", log)
    inbox = Inbox(sessions, clock, LEASE, fast_commit=fast)

    # execution
    try:
        first = inbox.accept("command:T1", "command", {"text": "create sandbox"})
        again = inbox.accept("command:T1", "command", {"text": "create sandbox"})
    finally:
        event.remove(engine, "before_cursor_execute", log)

    # validating: recorded once either way; only PostgreSQL's fast batch turns the flush off
    assert first is not None
    assert again is None
    assert inbox.pending() == 1
    turned_off = any("set_config('synchronous_commit', 'off', true)" in s for s in sent)
    assert turned_off == (fast and engine.dialect.name == "postgresql")


def test_a_key_recorded_by_the_listeners_dedupe_is_not_recorded_again(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: the key already recorded (a request run in the listener, `Intake.first_time`)
    assert first_time(sessions, clock, "command:T2")
    inbox = Inbox(sessions, clock, LEASE, fast_commit=True)

    # execution
    got = inbox.accept("command:T2", "command", {"text": "create sandbox"})

    # validating
    assert got is None
    assert inbox.pending() == 0
