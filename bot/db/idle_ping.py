"""Ping a pooled PostgreSQL connection only when it has been idle, instead of on every checkout.

`pool_pre_ping` costs a round trip before every use of a connection: the ack's batch statement,
each job's queries, every request's session. What it protects against is a connection the
server (or a restart, or a failover) closed while it sat in the pool, which takes time: a
connection checked in moments ago was just used and answered. So a connection is pinged at
checkout only when it has been in the pool `IDLE_PING` seconds or more; a failed ping is a
disconnect, and the pool replaces the connection and tries again (SQLAlchemy's "pessimistic"
disconnect handling, with the dialect's own ping). A connection that breaks within those seconds
fails its statement, as it would if it broke just after a ping.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

IDLE_PING = 5.0  # seconds in the pool after which a connection is pinged before use
_SINCE = "envbot_idle_since"


def ping_when_idle(engine: Engine) -> None:
    """Ping `engine`'s connections at checkout once they have been idle `IDLE_PING` s."""
    dialect = engine.dialect

    def checkin(_dbapi: Any, record: Any) -> None:
        record.info[_SINCE] = time.monotonic()

    def checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.pop(_SINCE, None)
        if since is None or time.monotonic() - since < IDLE_PING:
            return
        try:
            dialect.do_ping(dbapi)
        except Exception as exc:  # any failure: the pool opens a new connection and retries
            raise DisconnectionError(f"an idle connection failed its ping: {exc}") from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)
