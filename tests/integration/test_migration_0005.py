"""Migration 0005 adds `cloud_hosts` and `deleting_since`; existing rows keep every value."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, column, insert, inspect, table, text

from bot.db import migrate
from bot.db.session import make_engine
from tests.integration.test_migration_0004_data import _env_row


def _row() -> dict[str, Any]:
    row = _env_row("e-old", None)
    del row["spec"]  # 0004 made its flags columns, with server defaults
    row["endpoints"] = {"api_server": "https://a1.elb.amazonaws.com/dkp/api-server"}
    return row


def test_0005_up_gives_no_hosts_and_down_keeps_the_row(fresh_database_url: str) -> None:
    # setup: one environment row written at 0004
    migrate.upgrade(fresh_database_url, "0004")
    engine = make_engine(fresh_database_url)
    row = _row()
    envs = table("environments", *(column(n, JSON) if n == "endpoints" else column(n) for n in row))
    try:
        with engine.begin() as conn:
            conn.execute(insert(envs).values(**row))

        # execution
        migrate.upgrade(fresh_database_url, "0005")
        with engine.connect() as conn:
            up = conn.execute(text("SELECT * FROM environments")).mappings().one()
        migrate.downgrade(fresh_database_url, "0004")
        cols = {c["name"] for c in inspect(engine).get_columns("environments")}

        # validating
        assert up["cloud_hosts"] in ([], "[]")  # JSON on PostgreSQL, its text on SQLite
        assert up["deleting_since"] is None
        assert up["name"] == "e-old"
        assert not {"cloud_hosts", "deleting_since"} & cols
    finally:
        engine.dispose()
