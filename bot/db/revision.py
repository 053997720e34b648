"""The schema revision without importing Alembic: the head read from the migration files, and
the database's from `alembic_version`, so `serve` checks it in one SELECT (Alembic, Mako and
Pygments cost about a second and 15 MB, and are loaded only by `envbot migrate`)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, text
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
def head_revision(versions: Path = VERSIONS_DIR) -> str:
    """The one revision no other migration builds on (what `alembic heads` prints).

    Raises:
        RevisionError: no migration, or several heads (two branches that were not merged).
    """
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
    heads = sorted(revisions - parents)
    if len(heads) != 1:
        raise RevisionError(
            f"the migrations in {versions} have heads {heads or 'none'}; "
            "exactly one is expected (merge the branches with `alembic merge`)"
        )
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The revision stored in the database, or None when it has none (never migrated).

    Raises:
        SQLAlchemyError: the database does not answer.
    """
    with engine.connect() as conn:
        try:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except SQLAlchemyError:
            conn.rollback()  # PostgreSQL refuses more statements in a failed transaction
            conn.execute(text("SELECT 1"))  # the table is missing, but the database answers
            return None
    return rows[0] if len(rows) == 1 else None


def schema_ready(engine: Engine) -> bool:
    """True when the database answers and its schema is at this code's head (for /readyz)."""
    try:
        return current_revision(engine) == head_revision()
    except SQLAlchemyError:
        return False
