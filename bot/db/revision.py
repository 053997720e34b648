"""Whether the database's schema is the one the code needs, without importing Alembic: the head
read from the migration files, against `alembic_version` (plain SQL, cheap enough for every
`/readyz`). Alembic, Mako and Pygments cost about a second and 15 MB, and are loaded only by
`envbot migrate` / `serve --migrate`."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

import migrations

VERSIONS_DIR = Path(migrations.__file__).parent / "versions"


class RevisionError(Exception):
    """The migration files do not form one line of revisions."""


def _assignments(path: Path) -> dict[str, object]:
    """The literal module-level `revision` and `down_revision` of one migration file."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            found[target.id] = ast.literal_eval(value)
    return found


@cache
def _graph(versions: Path) -> tuple[frozenset[str], tuple[str, ...]]:
    """Every revision in `versions`, and the heads (revisions no other migration builds on)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(versions.glob("*.py")):
        values = _assignments(path)
        revision = values.get("revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        down = values.get("down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
    return frozenset(revisions), tuple(sorted(revisions - parents))


def head_revision(versions: Path = VERSIONS_DIR) -> str:
    """The one revision no other migration builds on (what `alembic heads` prints).

    Raises:
        RevisionError: no migration, or several heads (two branches that were not merged).
    """
    heads = _graph(versions)[1]
    if len(heads) != 1:
        raise RevisionError(
            f"the migrations in {versions} have heads {list(heads) or 'none'}; "
            "exactly one is expected (merge the branches with `alembic merge`)"
        )
    return heads[0]


def code_head() -> str:
    """The head revision of the migrations shipped with the code."""
    return head_revision()


def newer_than_code(current: str | None) -> bool:
    """Whether `current` is a revision this code does not know (a newer envbot migrated)."""
    return current is not None and current not in _graph(VERSIONS_DIR)[0]


def database_revision(engine: Engine) -> str | None:
    """The revision stored in `alembic_version`, or None when the database was never migrated.

    Raises:
        SQLAlchemyError: the database cannot be reached.
    """
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, "alembic_version"):
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows[0] if len(rows) == 1 else None


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


def schema_ready(engine: Engine, head: str | None = None) -> bool:
    """True when the database answers and is at `head` (for /readyz), or at a revision this code
    does not know: a newer envbot migrated it in a rolling update, and the pods of this version
    keep serving until they are replaced (a process that starts on it is refused instead)."""
    try:
        current = database_revision(engine)
    except SQLAlchemyError:
        return False
    return current == (head or head_revision()) or newer_than_code(current)


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
