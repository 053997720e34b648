"""Shared fixtures: the database (SQLite, or the PostgreSQL scripts/test started) and a clock."""

from __future__ import annotations

import faulthandler
import os
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.db import migrate
from bot.db.models import Base
from bot.db.session import make_engine, make_sessionmaker
from bot.domain.clock import ManualClock
from tests.fakes.moto_server import moto_account, start_moto

DEMO_START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _new_database(tmp_dir: str) -> tuple[str, str | None]:
    """A fresh empty database URL and, for PostgreSQL, the name to drop afterwards."""
    base = os.environ.get("ENVBOT_TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp_dir}/envbot-{secrets.token_hex(4)}.db", None
    name = f"envbot_test_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False), name


def _drop_database(name: str | None) -> None:
    base = os.environ.get("ENVBOT_TEST_DATABASE_URL")
    if not (base and name):
        return
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def fresh_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database with no schema, for migration tests."""
    url, name = _new_database(str(tmp_path_factory.mktemp("db")))
    yield url
    _drop_database(name)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated database per test run; `engine` empties it before each test."""
    url, name = _new_database(str(tmp_path_factory.mktemp("db")))
    migrate.upgrade(url)
    yield url
    _drop_database(name)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    try:
        with eng.begin() as conn:
            if eng.dialect.name == "postgresql":  # a session an earlier test left holding locks
                conn.execute(text("SET LOCAL lock_timeout = '60s'"))
            for table in reversed(Base.metadata.sorted_tables):
                if table.name != "install":  # the install id outlives tests, as it does restarts
                    conn.execute(table.delete())
    except OperationalError as exc:
        raise AssertionError(f"emptying the database waited on: {_sessions(eng)}") from exc
    yield eng
    eng.dispose()


def _sessions(eng: Engine) -> list[tuple[object, ...]]:
    """The other sessions on this database (what an earlier test may have left behind)."""
    query = text(
        "SELECT pid, application_name, state, left(query, 80) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    with eng.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(engine)


@pytest.fixture(scope="session", autouse=True)
def _migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each demo world migrates a new SQLite file from nothing (0.35 s of CPU, dozens of times a
    run): a deterministic migration (head, a given install id and time) of a file that does
    not exist yet is done once per run and copied. Migration tests give no `now`, so they
    always run the migrations themselves."""
    real = migrate.upgrade
    templates: dict[tuple[str, datetime], Path] = {}

    def upgrade(
        url: str,
        revision: str = "head",
        install_id: str | None = None,
        now: datetime | None = None,
    ) -> str | None:
        path = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
        if path is None or revision != "head" or install_id is None or now is None:
            return real(url, revision, install_id, now)
        if path.exists():
            return real(url, revision, install_id, now)
        key = (install_id, now)
        if key not in templates:
            template = tmp_path_factory.mktemp("migrated") / "template.db"
            real(f"sqlite:///{template}", revision, install_id, now)
            with closing(sqlite3.connect(template)) as conn:  # all of it in the one file
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            templates[key] = template
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(templates[key], path)
        return install_id

    migrate.upgrade = upgrade
    yield
    migrate.upgrade = real


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DEMO_START)


@pytest.fixture(scope="session")
def moto_server_url() -> Iterator[str]:
    """moto's server on loopback for the whole run (starting one per test cost 0.5 s)."""
    server, url = start_moto()
    yield url
    server.stop()


@pytest.fixture
def moto_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_server_url: str
) -> Iterator[str]:
    """moto's server on loopback (real boto3 talks to it), emptied before and after."""
    with moto_account(monkeypatch, tmp_path, moto_server_url) as url:
        yield url


FIGURES = pytest.StashKey[list[str]]()


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Note one line of figures (objects before and after); pytest prints them at the end."""
    lines = request.config.stash.setdefault(FIGURES, [])
    return lambda line: lines.append(f"{request.node.name}: {line}")


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the noted figures in their own section, easy to quote."""
    lines = config.stash.get(FIGURES, [])
    if lines:
        terminalreporter.section("figures")
        for line in lines:
            terminalreporter.write_line(line)


# The fixtures through which a test reaches the database under test.
DATABASE_FIXTURES = frozenset({"database_url", "fresh_database_url", "engine", "sessions"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "database: reads ENVBOT_TEST_DATABASE_URL itself (runs in the PostgreSQL pass too)",
    )
    # Captured output goes to a file during a test; the watchdog writes to the real stderr.
    config.stash[_STDERR] = os.dup(2)


_STDERR = pytest.StashKey[int]()
# A test that runs longer than this is stuck (the longest take about a minute on 2 cores): the
# watchdog names it, dumps every thread's stack and ends the run, so a hang costs minutes and
# says where it is, rather than silently running into CI's limit.
TEST_TIMEOUT = float(os.environ.get("ENVBOT_TEST_TIMEOUT", "300"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    fd = item.config.stash[_STDERR]

    def stuck() -> None:
        os.write(fd, f"\n== STUCK: {item.nodeid} ran over {TEST_TIMEOUT:.0f} s\n".encode())
        faulthandler.dump_traceback(file=fd, all_threads=True)
        os._exit(3)

    timer = threading.Timer(TEST_TIMEOUT, stuck)
    timer.daemon = True
    timer.start()
    # A backstop that needs no GIL, should a thread hold it and never let go.
    faulthandler.dump_traceback_later(TEST_TIMEOUT + 30, exit=True, file=fd)
    try:
        yield
    finally:
        timer.cancel()
        faulthandler.cancel_dump_traceback_later()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """A thread left running (not a daemon) keeps the interpreter from exiting after the last
    test: dump every stack and exit rather than wait forever."""
    fd = session.config.stash.get(_STDERR, 2)
    faulthandler.dump_traceback_later(
        float(os.environ.get("ENVBOT_TEST_EXIT_TIMEOUT", "120")), exit=True, file=fd
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Select a part of the suite: `ENVBOT_TEST_PART=database` keeps the tests that reach the
    database under test (through a database fixture, or marked `database`), `rest` the others.
    The PostgreSQL pass (ENVBOT_TEST_DATABASE_URL set) is the database part unless told
    otherwise: the rest (the grammar, Block Kit, policy, the fakes, tours on the demo's own
    SQLite...) would only repeat what the SQLite pass runs."""
    part = os.environ.get("ENVBOT_TEST_PART") or (
        "database" if os.environ.get("ENVBOT_TEST_DATABASE_URL") else "all"
    )
    if part not in ("all", "database", "rest"):
        raise pytest.UsageError(f"ENVBOT_TEST_PART={part!r}: use database, rest or all")
    if part == "all":
        return
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        uses = bool(names & DATABASE_FIXTURES) or item.get_closest_marker("database") is not None
        (keep if uses == (part == "database") else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
