"""Migration 0004 moves the flags of `environments.spec` into columns and back, row for row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import JSON, column, insert, inspect, select, table, text

from bot.db import migrate
from bot.db.session import make_engine

AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FULL_BAG: dict[str, Any] = {
    "created": True,
    "delete_requested": True,
    "refresh": True,
    "failed_while": "deleting",
    "round": 3,
    "drift": "replicas 1 != 2",
    "drift_count": 2,
    "cloud_cleanup": "done",
    "cloud_passes": 4,
}
# One row per flag (set on its own), a row with every flag, an empty bag and a JSON null.
BAGS: dict[str, dict[str, Any] | None] = {
    **{f"e-{key[:10]}": {key: value} for key, value in FULL_BAG.items()},
    "e-full": FULL_BAG,
    "e-empty": {},
    "e-null": None,
}


FULL_COLUMNS: dict[str, Any] = {
    "created": True,
    "delete_requested": True,
    "needs_refresh": True,
    "failed_while": "deleting",
    "retry_round": 3,
    "drift": "replicas 1 != 2",
    "drift_count": 2,
    "cloud_cleanup": "done",
    "cloud_passes": 4,
}
DEFAULT_COLUMNS: dict[str, Any] = {
    "created": False,
    "delete_requested": False,
    "needs_refresh": False,
    "failed_while": "",
    "retry_round": 0,
    "drift": "",
    "drift_count": 0,
    "cloud_cleanup": "pending",
    "cloud_passes": 0,
}


def _flags(row: Any) -> dict[str, Any]:
    """The nine typed columns of a raw row (SQLite answers 0/1 for booleans)."""
    out = {name: getattr(row, name) for name in FULL_COLUMNS}
    for name in ("created", "delete_requested", "needs_refresh"):
        out[name] = bool(out[name])
    return out


def _env_row(env_id: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "id": env_id,
        "name": env_id,
        "workspace": "payments",
        "template": "ns",
        "kind": "namespace",
        "backend": "fake",
        "owner_id": "U1",
        "owner_email": "u1@example.com",
        "created_by": "U1",
        "reason": "",
        "state": "DELETED",  # not live: the partial unique index does not care
        "phase": "",
        "created_at": AT,
        "updated_at": AT,
        "expires_at": AT,
        "attempts": 0,
        "failure": "",
        "decided_by": "",
        "spec": spec,
        "endpoints": {},
        "version": 1,
    }


def _spec_table() -> Any:
    names = list(_env_row("x", {}))
    return table(
        "environments",
        *(column(n, JSON) if n in ("spec", "endpoints") else column(n) for n in names),
    )


def test_0004_converts_every_flag_up_and_back(fresh_database_url: str) -> None:
    migrate.upgrade(fresh_database_url, "0003")
    engine = make_engine(fresh_database_url)
    try:
        envs = _spec_table()
        with engine.begin() as conn:
            for env_id, bag in BAGS.items():
                row = _env_row(env_id, bag)
                if bag is None:  # a JSON null, as a raw NULL would break NOT NULL
                    row["spec"] = None
                conn.execute(insert(envs).values(**row))

        migrate.upgrade(fresh_database_url, "0004")
        with engine.connect() as conn:
            typed = {r.id: r for r in conn.execute(text("SELECT * FROM environments"))}
        assert _flags(typed["e-full"]) == FULL_COLUMNS
        for empty in ("e-empty", "e-null"):
            assert _flags(typed[empty]) == DEFAULT_COLUMNS, empty

        migrate.downgrade(fresh_database_url, "0003")
        cols = {c["name"] for c in inspect(engine).get_columns("environments")}
        assert "spec" in cols
        assert "created" not in cols
        with engine.connect() as conn:
            back = {r.id: r.spec for r in conn.execute(select(envs.c.id, envs.c.spec))}
        for env_id, bag in BAGS.items():
            assert back[env_id] == (bag or {}), env_id

        # and up again, as after a rolled-back release
        migrate.upgrade(fresh_database_url, "head")
        migrate.check(fresh_database_url)  # the models match the schema at head
        with engine.connect() as conn:
            again = {r.id: r for r in conn.execute(text("SELECT * FROM environments"))}
        assert _flags(again["e-full"]) == FULL_COLUMNS
    finally:
        engine.dispose()


@pytest.mark.parametrize("key", sorted(FULL_BAG))
def test_each_flag_alone_survives(fresh_database_url: str, key: str) -> None:
    migrate.upgrade(fresh_database_url, "0003")
    engine = make_engine(fresh_database_url)
    try:
        envs = _spec_table()
        with engine.begin() as conn:
            conn.execute(insert(envs).values(**_env_row("e1", {key: FULL_BAG[key]})))
        migrate.upgrade(fresh_database_url, "0004")
        migrate.downgrade(fresh_database_url, "0003")
        with engine.connect() as conn:
            assert conn.execute(select(envs.c.spec)).scalar_one() == {key: FULL_BAG[key]}
    finally:
        engine.dispose()
