"""PostgreSQL sessions of a replica whose host vanishes are dropped by TCP keepalives on both ends
within about 25 s, so a job batch's row locks do not outlive the replica by hours."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from bot.db.session import make_engine, postgres_keepalives


def test_the_server_end_of_every_session_has_keepalives_and_a_user_timeout(
    engine: Engine,
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("keepalives are PostgreSQL's; set ENVBOT_TEST_DATABASE_URL (scripts/test)")
    with engine.connect() as conn:
        shown = {
            name: conn.execute(text(f"SHOW {name}")).scalar_one()
            for name in ("tcp_keepalives_idle", "tcp_keepalives_interval", "tcp_keepalives_count")
        }
        user_timeout = conn.execute(text("SHOW tcp_user_timeout")).scalar_one()
    assert shown == {
        "tcp_keepalives_idle": "10",
        "tcp_keepalives_interval": "5",
        "tcp_keepalives_count": "3",
    }
    assert user_timeout == "30000"  # milliseconds


def test_settings_the_url_gives_are_kept(engine: Engine, database_url: str) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("keepalives are PostgreSQL's; set ENVBOT_TEST_DATABASE_URL (scripts/test)")
    own = make_engine(f"{database_url}?options=-c%20tcp_keepalives_idle%3D42")
    try:
        with own.connect() as conn:
            assert conn.execute(text("SHOW tcp_keepalives_idle")).scalar_one() == "42"
    finally:
        own.dispose()


def test_connection_arguments_yield_to_the_url() -> None:
    url = "postgresql+psycopg://u@db/envbot?keepalives_idle=60&options=-c%20x%3D1"
    args = postgres_keepalives(url)
    assert "keepalives_idle" not in args
    assert "options" not in args
    assert args["keepalives"] == 1
    assert args["tcp_user_timeout"] == 30_000
    assert (
        "-c tcp_keepalives_idle=10" in postgres_keepalives("postgresql+psycopg://u@db/e")["options"]
    )
