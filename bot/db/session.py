"""Engine and session factory; built once by the composition root in `bot/cli.py`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from bot.db.sqlite_writer import WriterConnection


def make_engine(url: str) -> Engine:
    """Create the engine for `url`, with SQLite set up for several threads and foreign keys."""
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # No pre-ping: a file does not drop connections, and the ping is one more statement
        # (one more give-up of the GIL) on every checkout, the ack's batch's included.
        # One writer at a time per file, handed on at once (`bot.db.sqlite_writer`).
        kwargs["connect_args"] = {
            "check_same_thread": False,
            "timeout": 30,
            "factory": WriterConnection,
        }
    else:
        kwargs["pool_pre_ping"] = True  # a server may have closed an idle connection
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a crash of the process (the OS has the WAL pages);
    # a power loss or kernel crash may lose the last transactions, never corrupt the file.
    # See "SQLite durability" in docs/PERFORMANCE.md; use PostgreSQL when that matters.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (services return them to handlers)."""
    return sessionmaker(engine, expire_on_commit=False)
