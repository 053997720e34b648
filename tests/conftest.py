"""Shared fixtures: the database (SQLite, or the PostgreSQL scripts/test started) and a clock."""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
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
    with eng.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "install":  # the install id outlives tests, as it does restarts
                conn.execute(table.delete())
    yield eng
    eng.dispose()


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
