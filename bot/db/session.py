"""Engine and session factory; built once by the composition root in `bot/cli.py`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bot.db.idle_ping import ping_when_idle
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
        kwargs["connect_args"] = postgres_keepalives(url)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    else:  # a server may have closed a connection that sat in the pool
        ping_when_idle(engine)
    return engine


# A peer that vanished without closing (power loss, partition, a frozen VM) is dropped within
# about 10 + 5 * 3 = 25 s, on both ends: the server ends the session, which frees the row locks
# of a transaction it had open (a job batch of a leader that is gone: the next leader skips
# locked rows, so they would wait for the default keepalives, about two hours), and the client's
# next statement fails rather than hangs. Only dead peers are affected: a slow statement or a
# long transaction is not cut. Settings the URL gives itself are kept.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 10, 5, 3
USER_TIMEOUT_MS = 30_000


def postgres_keepalives(url: str) -> dict[str, Any]:
    """libpq connection arguments: TCP keepalives and a user timeout on the client, and the
    same for the server's end of the session (`options`), unless the URL sets them."""
    given = make_url(url).query
    client: dict[str, Any] = {
        "keepalives": 1,
        "keepalives_idle": KEEPALIVE_IDLE,
        "keepalives_interval": KEEPALIVE_INTERVAL,
        "keepalives_count": KEEPALIVE_COUNT,
        "tcp_user_timeout": USER_TIMEOUT_MS,
    }
    args = {k: v for k, v in client.items() if k not in given}
    if "options" not in given:
        server = {
            "tcp_keepalives_idle": KEEPALIVE_IDLE,
            "tcp_keepalives_interval": KEEPALIVE_INTERVAL,
            "tcp_keepalives_count": KEEPALIVE_COUNT,
            "tcp_user_timeout": USER_TIMEOUT_MS,
        }
        args["options"] = " ".join(f"-c {k}={v}" for k, v in server.items())
    return args


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
