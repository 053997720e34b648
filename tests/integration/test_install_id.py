"""The install id: stored once by `envbot migrate` (fresh, or ENVBOT_INSTALL_ID), the same for
every later migrate, restart and replica; a disagreeing ENVBOT_INSTALL_ID stops start-up; the
upgrade to it marks READY environments for a refresh (adoption); names must be unique first."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, select, text

from bot.db import migrate
from bot.db.install import (
    InstallIdError,
    ensure_install_id,
    load_install_id,
    stored_install_id,
)
from bot.db.models import Event
from bot.db.session import make_engine, make_sessionmaker
from bot.domain.clock import ManualClock
from bot.policy import load_policy
from bot.wiring import build_runtime
from tests.integration.test_access_race import Directory
from tests.integration.test_cli import ROOT, _run

POLICY = load_policy(ROOT / "examples" / "policy.yaml")


def test_migrate_stores_one_id_and_every_later_run_keeps_it(fresh_database_url: str) -> None:
    # execution
    first = migrate.upgrade(fresh_database_url)
    again = migrate.upgrade(fresh_database_url)
    engine = make_engine(fresh_database_url)
    try:
        loaded = load_install_id(engine)
        with make_sessionmaker(engine)() as s:
            audit = s.scalars(select(Event).where(Event.object_type == "install")).all()
    finally:
        engine.dispose()

    # validating: one id, stored once, audited once
    assert first is not None
    assert len(first) == 16
    assert again == loaded == first
    assert [(e.action, e.detail) for e in audit] == [
        ("install_id", {"install_id": first, "from": "new"})
    ]


def test_env_install_id_is_stored_and_must_agree_later(fresh_database_url: str) -> None:
    # execution
    stored = migrate.upgrade(fresh_database_url, install_id="prod-eu-1")
    with pytest.raises(InstallIdError) as differs:
        migrate.upgrade(fresh_database_url, install_id="prod-us-1")
    with pytest.raises(InstallIdError) as malformed:
        migrate.upgrade(fresh_database_url, install_id="no spaces!")

    # validating
    assert stored == "prod-eu-1"
    assert str(differs.value).startswith(
        "ENVBOT_INSTALL_ID is 'prod-us-1' but this database belongs to install 'prod-eu-1'; "
        "unset ENVBOT_INSTALL_ID or set it to the stored id"
    )
    assert "is not usable: give 1-40 letters, digits" in str(malformed.value)


def test_start_up_refuses_a_database_without_an_id_or_with_another(
    fresh_database_url: str,
) -> None:
    # setup: a schema at head, but no id stored yet (as after `alembic upgrade` by hand)
    migrate.upgrade(fresh_database_url)
    engine = make_engine(fresh_database_url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM install"))
    engine.dispose()

    def start(install_id: str | None) -> None:
        build_runtime(
            policy=POLICY,
            database_url=fresh_database_url,
            client=None,  # type: ignore[arg-type]  # refused before any Slack client is used
            directory=Directory(),
            signing_secret="s",
            clock=ManualClock(datetime(2026, 1, 5, tzinfo=UTC)),
            env_backends={},
            access_backends={},
            install_id=install_id,
        )

    # execution + validating
    with pytest.raises(InstallIdError, match=r"no install id yet; run `envbot migrate`"):
        start(None)
    migrate.upgrade(fresh_database_url, install_id="inst-a")
    with pytest.raises(InstallIdError, match="belongs to install 'inst-a'"):
        start("inst-b")


def test_two_processes_migrating_at_once_agree(fresh_database_url: str) -> None:
    # setup: the schema is there; two replicas store the id at the same moment
    migrate.upgrade(fresh_database_url, revision="0007")
    engine = make_engine(fresh_database_url)
    barrier = threading.Barrier(2)
    got: list[str] = []

    def replica() -> None:
        barrier.wait()
        got.append(ensure_install_id(engine))

    # execution
    threads = [threading.Thread(target=replica) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # validating
    stored = stored_install_id(engine)
    engine.dispose()
    assert got == [stored, stored]


def test_the_cli_fails_clearly_on_a_disagreeing_id(fresh_database_url: str) -> None:
    env = {"ENVBOT_DATABASE_URL": fresh_database_url}
    first = _run("migrate", env={**env, "ENVBOT_INSTALL_ID": "inst-a"})
    second = _run("migrate", env={**env, "ENVBOT_INSTALL_ID": "inst-b"})
    assert first.returncode == 0, first.stderr
    assert "install id inst-a" in first.stdout
    assert second.returncode == 1
    assert "envbot migrate: ENVBOT_INSTALL_ID is 'inst-b' but this database belongs to" in (
        second.stderr
    )


def _env_row(conn: Connection, env_id: str, name: str, workspace: str, state: str) -> None:
    values = {
        "id": env_id,
        "name": name,
        "workspace": workspace,
        "state": state,
        "at": "2026-01-05 09:00:00",
    }
    conn.execute(
        text(
            "INSERT INTO environments (id, name, workspace, template, kind, backend, owner_id, "
            "owner_email, created_by, reason, state, phase, created_at, updated_at, expires_at, "
            "attempts, failure, decided_by, endpoints, version) VALUES (:id, :name, :workspace, "
            "'sandbox', 'cluster', 'capi', 'U1', 'a@example.com', 'U1', '', :state, '', :at, "
            ":at, :at, 0, '', '', '{}', 1)"
        ),
        values,
    )


def test_the_upgrade_marks_ready_environments_for_adoption(fresh_database_url: str) -> None:
    # setup: a database at 0004 with a READY and a DELETED environment
    migrate.upgrade(fresh_database_url, revision="0004")
    engine = make_engine(fresh_database_url)
    with engine.begin() as conn:
        _env_row(conn, "eready", "one", "sandbox", "READY")
        _env_row(conn, "egone", "two", "sandbox", "DELETED")

    # execution
    migrate.upgrade(fresh_database_url)

    # validating: the next reconcile pass re-applies READY ones, adding the install-id label
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, needs_refresh FROM environments ORDER BY id")).all()
    engine.dispose()
    assert [(r[0], bool(r[1])) for r in rows] == [("egone", False), ("eready", True)]


def test_the_upgrade_refuses_names_shared_across_workspaces(fresh_database_url: str) -> None:
    # setup: two live environments named `dev` in two workspaces (allowed until now)
    migrate.upgrade(fresh_database_url, revision="0004")
    engine = make_engine(fresh_database_url)
    with engine.begin() as conn:
        _env_row(conn, "ea", "dev", "sandbox", "READY")
        _env_row(conn, "eb", "dev", "production", "READY")
    engine.dispose()

    # execution + validating: a clear refusal that says what to do
    with pytest.raises(RuntimeError, match=r"held by more than one live environment.*: dev \(2x\)"):
        migrate.upgrade(fresh_database_url)
