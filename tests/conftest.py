"""Shared fixtures: the database (SQLite, or the PostgreSQL scripts/test started) and a clock."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.db import migrate
from bot.db.models import Base
from bot.db.session import make_engine, make_sessionmaker
from bot.domain.clock import ManualClock

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


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(DEMO_START)
