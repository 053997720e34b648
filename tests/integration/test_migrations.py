"""Alembic up, check, down and up again on the test database (SQLite or PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import inspect

from bot.db import migrate
from bot.db.models import Base
from bot.db.session import make_engine


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_check_downgrade_upgrade(fresh_database_url: str) -> None:
    # setup / execution
    migrate.upgrade(fresh_database_url)
    # validating: every model table exists and autogenerate finds nothing to add
    assert _tables(fresh_database_url) == set(Base.metadata.tables)
    migrate.check(fresh_database_url)
    migrate.downgrade(fresh_database_url, "base")
    assert _tables(fresh_database_url) == set()
    migrate.upgrade(fresh_database_url)
    assert _tables(fresh_database_url) == set(Base.metadata.tables)
