"""This install's id: made once by `envbot migrate` (or taken from `ENVBOT_INSTALL_ID`), stored in
the database, and read by every replica at start-up, so restarts and replicas agree."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import Event, Install

_VALID = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,38}[A-Za-z0-9])?$")
ROW = 1


class InstallIdError(Exception):
    """The install id is missing, malformed, or disagrees with the one stored."""


def check_install_id(value: str) -> str:
    """`value` when it can be a label value and an AWS tag value (1-40 characters).

    Raises:
        InstallIdError: it cannot.
    """
    if not _VALID.match(value):
        raise InstallIdError(
            f"ENVBOT_INSTALL_ID {value!r} is not usable: give 1-40 letters, digits, '-', '_' "
            "or '.', starting and ending with a letter or digit (or unset it to use the stored id)"
        )
    return value


def new_install_id() -> str:
    """A fresh random install id (16 hex digits)."""
    return secrets.token_hex(8)


def stored_install_id(engine: Engine) -> str | None:
    """The install id in the database, or None before `envbot migrate` made one."""
    with Session(engine) as s:
        return s.scalar(select(Install.install_id).where(Install.id == ROW))


def _agree(stored: str, wanted: str | None) -> str:
    if wanted and wanted != stored:
        raise InstallIdError(
            f"ENVBOT_INSTALL_ID is {wanted!r} but this database belongs to install {stored!r}; "
            "unset ENVBOT_INSTALL_ID or set it to the stored id (each database is one install, "
            "and its objects are labelled with that id)"
        )
    return stored


def ensure_install_id(
    engine: Engine, wanted: str | None = None, now: datetime | None = None
) -> str:
    """The stored install id, storing `wanted` (or a fresh one) the first time; audited at
    `now` (the wall clock unless the demo's clock is given).

    Two processes migrating at once both end with the one id that was stored first.

    Raises:
        InstallIdError: `wanted` is malformed or disagrees with the stored id.
    """
    if wanted:
        check_install_id(wanted)
    stored = stored_install_id(engine)
    if stored is not None:
        return _agree(stored, wanted)
    value = wanted or new_install_id()
    now = now or datetime.now(UTC)
    try:
        with Session(engine) as s, s.begin():
            s.add(Install(id=ROW, install_id=value, created_at=now))
            s.flush()
            s.add(
                Event(
                    at=now,
                    actor="envbot migrate",
                    object_type="install",
                    object_id=value[:16],
                    action="install_id",
                    detail={"install_id": value, "from": "ENVBOT_INSTALL_ID" if wanted else "new"},
                )
            )
    except IntegrityError:
        pass  # another process stored one first; it wins
    stored = stored_install_id(engine)
    if stored is None:  # pragma: no cover - the insert or the other process's insert committed
        raise InstallIdError("could not store an install id; run `envbot migrate` again")
    return _agree(stored, wanted)


def load_install_id(engine: Engine, wanted: str | None = None) -> str:
    """The install id a starting process works under.

    Raises:
        InstallIdError: none is stored yet, or `wanted` disagrees with the stored one.
    """
    if wanted:
        check_install_id(wanted)
    stored = stored_install_id(engine)
    if stored is None:
        raise InstallIdError(
            "this database has no install id yet; run `envbot migrate` (or `envbot serve "
            "--migrate`) first, which stores one"
        )
    return _agree(stored, wanted)
