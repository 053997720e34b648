"""Alembic driven from code, so `envbot migrate` works from an installed package too."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from alembic import command
from alembic.config import Config

import migrations
from bot.db.install import ensure_install_id
from bot.db.session import make_engine

MIGRATIONS_DIR = Path(migrations.__file__).parent


def alembic_config(url: str) -> Config:
    """An Alembic config for `url` that needs no alembic.ini."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats % as interpolation; URL-encoded passwords contain it.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(
    url: str,
    revision: str = "head",
    install_id: str | None = None,
    now: datetime | None = None,
) -> str | None:
    """Bring the database at `url` up to `revision`; at head, make sure it has an install id
    (`install_id` when given, else a fresh one the first time) and return it.

    Raises:
        InstallIdError: `install_id` is malformed or disagrees with the stored id.
    """
    _prepare_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)
    if revision != "head":
        return None
    engine = make_engine(url)
    try:
        return ensure_install_id(engine, install_id, now)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str = "base") -> None:
    """Take the database at `url` down to `revision`."""
    command.downgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Raise if the models and the migrations disagree (`alembic check`)."""
    command.check(alembic_config(url))


def _prepare_sqlite_dir(url: str) -> None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and url != "sqlite:///:memory:":
        Path(url[len(prefix) :]).parent.mkdir(parents=True, exist_ok=True)
