"""What a reconcile pass loads: the environments with work, never the READY ones at rest.

A pass loads (from the indexed due query) only environments in flight (PROVISIONING,
DELETING) and READY ones with a refresh owed or a drift lasting. READY environments at rest
are kept here as the spec they were last loaded with: the backend still observes them in its
list calls each pass (so drift is seen at once), and a row is loaded only when what was seen
needs it (objects changed or gone). Every change that alters a READY environment's spec sets
`needs_refresh` or moves it out of READY (both make it due), so a kept spec never goes stale
unnoticed; a full pass every `FULL_PASS` reloads everything anyway (another replica may have
led meanwhile).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_

from bot.db.models import Environment
from bot.domain.states import EnvState
from provisioning.base import EnvSpec, Observation, Phase

WATCHED = (EnvState.PROVISIONING, EnvState.DELETING, EnvState.READY)
FULL_PASS = timedelta(minutes=10)


def due_condition() -> ColumnElement[bool]:
    """The rows a pass must load: in flight, or READY with a refresh owed or a drift lasting."""
    ready = Environment.state == EnvState.READY
    return or_(
        Environment.state.in_((EnvState.PROVISIONING, EnvState.DELETING)),
        and_(ready, Environment.needs_refresh.is_(True)),
        and_(ready, Environment.drift != ""),
    )


def at_rest(obs: Observation) -> bool:
    """A READY environment seen like this has nothing to do (its objects are there, as made)."""
    return obs.exists and not obs.drift


def worth_applying(env: Environment, obs: Observation, phases: tuple[Phase, ...]) -> bool:
    """Whether applying `obs` to `env` (as loaded, unlocked) can change anything; the rest is
    not locked or written. DELETING is always applied (its stuck-timer runs on each pass)."""
    if env.state == EnvState.PROVISIONING:
        if obs.failure or obs.phase == Phase.READY:
            return True
        if obs.phase not in phases:
            return False
        return env.phase not in phases or phases.index(env.phase) < phases.index(obs.phase)
    if env.state == EnvState.READY:
        return not at_rest(obs) or bool(env.drift)
    return env.state == EnvState.DELETING


@dataclass(frozen=True)
class Kept:
    """A READY environment at rest: its backend and the spec it was last loaded with."""

    backend: str
    spec: EnvSpec


class AtRest:
    """The READY environments at rest, by env id; dropped whole every `full_pass`."""

    def __init__(self, full_pass: timedelta = FULL_PASS) -> None:
        self._kept: dict[str, Kept] = {}
        self._full_pass = full_pass
        self._last_full: datetime | None = None
        self._lock = threading.Lock()

    def full_due(self, now: datetime) -> bool:
        """Whether this pass must load every watched row (first pass, or `full_pass` since the
        last one); if so, forgets everything kept."""
        with self._lock:
            if self._last_full is not None and now - self._last_full < self._full_pass:
                return False
            self._last_full = now
            self._kept.clear()
            return True

    def forget(self, env_ids: list[str]) -> None:
        """Drop these (loaded this pass: the row, not the kept spec, is what counts now)."""
        with self._lock:
            for env_id in env_ids:
                self._kept.pop(env_id, None)

    def keep(self, env_id: str, backend: str, spec: EnvSpec) -> None:
        """Remember a READY environment at rest."""
        with self._lock:
            self._kept[env_id] = Kept(backend, spec)

    def by_backend(self) -> dict[str, list[EnvSpec]]:
        """The kept specs grouped by backend name."""
        grouped: dict[str, list[EnvSpec]] = defaultdict(list)
        with self._lock:
            for kept in self._kept.values():
                grouped[kept.backend].append(kept.spec)
        return grouped

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)
