"""The failover tests' frozen relay: frozen, it keeps every session open; closed, it ends them, so
nothing a cut-off session held (a row lock in an open transaction) outlives the test."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from tests.relay import Relay


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pid_alive(engine: Engine, pid: int) -> bool:
    with engine.connect() as conn:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p")
        return bool(conn.execute(query, {"p": pid}).scalar_one())


def test_closing_a_frozen_relay_ends_a_session_idle_in_a_transaction(
    engine: Engine, database_url: str
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the relay stands in for a PostgreSQL client's host")
    relay, relayed = Relay.to_url(database_url)
    client = psycopg.connect(_dsn(relayed))
    try:  # a transaction that holds a lock, then silence
        pid = client.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        client.execute("SELECT pg_advisory_xact_lock(4242)")
        relay.freeze()
        time.sleep(0.2)
        assert _pid_alive(engine, pid)  # frozen: PostgreSQL still sees the session
        relay.close()
        deadline = time.monotonic() + 10
        while _pid_alive(engine, pid):  # closed: the server sees the connection go, ends it
            assert time.monotonic() < deadline, "the relay left the session open after close()"
            time.sleep(0.05)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_try_advisory_xact_lock(4242)")).scalar_one()
    finally:
        relay.close()
        client.close()
