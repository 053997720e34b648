"""Whether the database's schema is the one the code needs: the head revision of the migrations
(read once) against `alembic_version` (plain SQL, cheap enough for every `/readyz`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError


def code_head() -> str:
    """The head revision of the migrations shipped with the code."""
    return _revisions()[0]


@cache
def _revisions() -> tuple[str, frozenset[str]]:
    """The head and every revision the code knows (Alembic is imported and read once)."""
    from alembic.script import ScriptDirectory

    from bot.db.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = scripts.get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations found")
    return head, frozenset(rev.revision for rev in scripts.walk_revisions())


def newer_than_code(current: str | None) -> bool:
    """Whether `current` is a revision this code does not know (a newer envbot migrated)."""
    return current is not None and current not in _revisions()[1]


def database_revision(engine: Engine) -> str | None:
    """The revision stored in `alembic_version`, or None when the database was never migrated.

    Raises:
        SQLAlchemyError: the database cannot be reached.
    """
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, "alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def schema_problem(current: str | None, head: str) -> str | None:
    """What to do when the database is not at `head`, in the words doctor and serve both print."""
    if current == head:
        return None
    if newer_than_code(current):
        return (
            f"the database is at revision {current}, which this code does not know (a newer "
            f"envbot migrated it); the code needs {head}: run the newer envbot, or that "
            f"version's `envbot migrate --downgrade {head}`"
        )
    return (
        f"the database is at revision {current or 'none (never migrated)'}, the code needs {head}: "
        "run `envbot migrate` or `envbot serve --migrate`"
    )


def schema_ready(engine: Engine, head: str) -> bool:
    """True when the database answers and is at `head` (for /readyz), or at a revision this code
    does not know: a newer envbot migrated it in a rolling update, and the pods of this version
    keep serving until they are replaced (a process that starts on it is refused instead)."""
    try:
        current = database_revision(engine)
    except SQLAlchemyError:
        return False
    return current == head or newer_than_code(current)


def missing_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL when it does not exist (connecting would create it empty)."""
    try:
        parsed = make_url(url)
    except SQLAlchemyError:
        return None
    name = parsed.database or ""
    if not parsed.drivername.startswith("sqlite") or name in ("", ":memory:"):
        return None
    path = Path(name)
    return None if name.startswith("file:") or path.exists() else path
