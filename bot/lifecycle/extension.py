"""Extending within a cap, for everything that expires: the rule, and the change it makes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.errors import UserError
from bot.lifecycle.moves import Lifecycle
from bot.lifecycle.workflow import T


class CapReached(UserError):
    """The object already lives as long as it may; the slice says so in its own words."""

    def __init__(self, cap: datetime) -> None:
        super().__init__(f"capped at {cap:%Y-%m-%d %H:%M} UTC")
        self.cap = cap


@dataclass(frozen=True)
class Extension:
    """The outcome of one extension: the old and new expiry, and whether the cap cut it."""

    old: datetime
    new: datetime
    capped: bool


def extended(expires_at: datetime, step: timedelta, cap: datetime, *, explicit: bool) -> Extension:
    """The new expiry after extending by `step`, never past `cap`.

    An explicit duration that does not fit is refused; the default step is cut at the cap,
    and refused only once the cap is reached.

    Raises:
        CapReached: the extension does not fit under the cap.
    """
    wanted = expires_at + step
    if wanted > cap and (explicit or expires_at >= cap):
        raise CapReached(cap)
    new = min(wanted, cap)
    return Extension(old=expires_at, new=new, capped=new < wanted)


def apply_extension(
    life: Lifecycle[T], s: Session, obj: T, ext: Extension, actor: str, now: datetime
) -> None:
    """Record the new expiry on the locked object: audit row and card."""
    setattr(obj, "expires_at", ext.new)  # noqa: B010 - every expiring workflow has the column
    obj.updated_at = now
    life.audit(
        s, obj, "extend", actor, now, old_expiry=ext.old.isoformat(), new_expiry=ext.new.isoformat()
    )
    life.refresh(s, obj, now)
