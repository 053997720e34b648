"""`envbot serve` start-up: the schema check without Alembic, /readyz, SQLite's pragmas and
waitress's sizing as the README states them."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
import requests
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from bot.db import migrate
from bot.db.revision import RevisionError, database_revision, head_revision, schema_ready
from bot.db.session import make_engine
from bot.server import HttpServer, make_wsgi_app
from handlers.edge import EdgeRules
from handlers.transport import SlackApp

ROOT = Path(__file__).resolve().parents[2]


def test_head_is_the_one_alembic_finds(database_url: str) -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config(database_url))
    assert head_revision() == script.get_current_head()


def _migration(folder: Path, name: str, revision: str, down: str) -> None:
    (folder / f"{name}.py").write_text(
        f'"""{name}."""\nrevision: str = {revision!r}\ndown_revision = {down}\n'
    )


def test_head_reads_annotated_and_merge_revisions(tmp_path: Path) -> None:
    _migration(tmp_path, "a", "a1", "None")
    _migration(tmp_path, "b", "b1", "'a1'")
    _migration(tmp_path, "c", "c1", "'a1'")
    _migration(tmp_path, "m", "m1", "('b1', 'c1')")
    assert head_revision(tmp_path) == "m1"


def test_two_heads_are_refused_with_what_to_do(tmp_path: Path) -> None:
    _migration(tmp_path, "a", "a1", "None")
    _migration(tmp_path, "b", "b1", "'a1'")
    _migration(tmp_path, "c", "c1", "'a1'")
    with pytest.raises(RevisionError, match=r"\['b1', 'c1'\].*alembic merge"):
        head_revision(tmp_path)


def test_schema_ready_only_at_head(fresh_database_url: str) -> None:
    engine = make_engine(fresh_database_url)
    try:
        assert database_revision(engine) is None
        assert not schema_ready(engine)  # never migrated: the database answers, no schema
        previous = ScriptDirectory.from_config(
            migrate.alembic_config(fresh_database_url)
        ).get_revision(head_revision())
        assert previous is not None
        assert isinstance(previous.down_revision, str)
        migrate.upgrade(fresh_database_url, previous.down_revision)
        assert database_revision(engine) == previous.down_revision
        assert not schema_ready(engine)  # behind: this code would query missing columns
        migrate.upgrade(fresh_database_url)
        assert schema_ready(engine)
    finally:
        engine.dispose()


def test_schema_not_ready_when_the_database_is_gone() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert not schema_ready(engine)
    engine.dispose()


def _app() -> SlackApp:
    return SlackApp(
        edge=EdgeRules("test-secret"),
        token="xoxb-test",  # never sent: no request reaches Slack's routes
        token_verification_enabled=False,
    )


def test_readyz_follows_the_schema(fresh_database_url: str) -> None:
    engine = make_engine(fresh_database_url)
    server = HttpServer(make_wsgi_app(_app(), lambda: schema_ready(engine)), "127.0.0.1", 0)
    server.start()
    try:
        assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 503
        migrate.upgrade(fresh_database_url)
        assert requests.get(f"{server.url}/readyz", timeout=10).status_code == 200
    finally:
        server.stop()
        engine.dispose()


def test_sqlite_keeps_wal_with_synchronous_normal(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def _readme_sizing() -> tuple[int, int]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"waitress with `connection_limit` (\d+) and (\d+) threads", readme)
    assert found, "README lost its HTTP server paragraph"
    return int(found.group(1)), int(found.group(2))


def test_waitress_is_sized_as_the_readme_says() -> None:
    limit, threads = _readme_sizing()
    server = HttpServer(make_wsgi_app(_app()), "127.0.0.1", 0)
    try:
        assert server._server.adj.connection_limit == limit
        assert server._server.adj.threads == threads
    finally:
        server._server.close()


def test_two_hundred_connections_are_all_answered() -> None:
    """Hold 200 keep-alive connections open at once; each gets its answer (at waitress's
    default limit of 100 the rest would wait in the backlog until the timeout)."""
    server = HttpServer(make_wsgi_app(_app()), "127.0.0.1", 0).start()
    host, port = server.url.removeprefix("http://").split(":")
    conns = [socket.create_connection((host, int(port)), timeout=10) for _ in range(200)]
    try:
        for conn in conns:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        for conn in conns:
            answer = b""
            while not answer.endswith(b"ok"):
                chunk = conn.recv(4096)
                assert chunk, "connection closed without an answer"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")
    finally:
        for conn in conns:
            conn.close()
        server.stop()
