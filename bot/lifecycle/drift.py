"""Drift episodes: what a backend finds changed outside envbot is reported once per episode,
and the episode closes when the objects match again, so a new drift is reported anew."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.lifecycle.moves import SYSTEM, Lifecycle
from bot.lifecycle.workflow import T


@dataclass(frozen=True)
class DriftWords:
    """How a workflow says it in the thread: (what drifted, re-applying?) -> text; and the end."""

    seen: Callable[[str, bool], str]
    resolved: str


def track_drift(
    life: Lifecycle[T],
    s: Session,
    obj: T,
    what: str,
    now: datetime,
    *,
    reapply: bool,
    words: DriftWords,
) -> None:
    """Open, keep or close the object's drift episode from what the backend found now.

    Args:
        what: what drifted, or "" when the objects match.
        reapply: whether the policy re-applies drifted objects (it is only reported here).
    """
    if not what:
        if obj.drift:
            life.audit(s, obj, "drift_resolved", SYSTEM, now, drift=obj.drift)
            obj.drift = ""
            life.thread(s, obj, f"drift-resolved:{obj.drift_count}", now, words.resolved)
        return
    if what != obj.drift:
        obj.drift = what
        obj.drift_count += 1
        life.audit(s, obj, "drift", SYSTEM, now, drift=what, reapply=reapply)
        life.thread(s, obj, f"drift:{obj.drift_count}", now, words.seen(what, reapply))
