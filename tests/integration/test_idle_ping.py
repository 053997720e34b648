"""PostgreSQL connections are pinged at checkout only after sitting idle in the pool: one that
the server closed meanwhile is replaced unseen; one just used costs no round trip."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from bot.db import idle_ping
from bot.db.session import make_engine


@pytest.fixture
def pg(engine: Engine, database_url: str) -> Iterator[Engine]:
    if engine.dialect.name != "postgresql":
        pytest.skip("pooled connections to a server; set ENVBOT_TEST_DATABASE_URL (scripts/test)")
    own = make_engine(database_url)
    yield own
    own.dispose()


def _pings(monkeypatch: pytest.MonkeyPatch, eng: Engine) -> list[object]:
    seen: list[object] = []
    real = eng.dialect.do_ping

    def counted(dbapi: Any) -> bool:
        seen.append(dbapi)
        return real(dbapi)

    monkeypatch.setattr(eng.dialect, "do_ping", counted)
    return seen


def _server_ends_the_pooled_session(pg: Engine, engine: Engine) -> None:
    with pg.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with engine.connect() as other:  # the connection now sits in pg's pool
        other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})


def test_a_connection_just_used_is_not_pinged(pg: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = _pings(monkeypatch, pg)
    for _ in range(3):
        with pg.connect() as conn:
            conn.execute(text("SELECT 1"))
    assert pings == []


def test_an_idle_connection_the_server_closed_is_replaced_unseen(
    pg: Engine, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idle_ping, "IDLE_PING", 0.0)  # every pooled connection counts as idle
    pings = _pings(monkeypatch, pg)
    _server_ends_the_pooled_session(pg, engine)
    with pg.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
    assert len(pings) == 1  # the dead one failed its ping; the new one was not pinged


def test_without_the_ping_the_closed_connection_fails_its_statement(
    pg: Engine, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(idle_ping, "IDLE_PING", 3600.0)  # never idle long enough
    _server_ends_the_pooled_session(pg, engine)
    with pytest.raises(OperationalError), pg.connect() as conn:
        conn.execute(text("SELECT 1"))
