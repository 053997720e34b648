"""In-memory environment and access backends that record every call and move through phases on
an injected clock; `envbot demo` and the tests use them in place of a cluster."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.clock import Clock
from bot.errors import PermanentError, TemporaryError
from provisioning.base import EnvSpec, GrantSpec, Observation, Phase

# Offsets from create() at which a cluster environment reaches each phase (READY within 30m).
CLUSTER_SCHEDULE: tuple[tuple[timedelta, Phase], ...] = (
    (timedelta(0), Phase.ACCEPTED),
    (timedelta(minutes=5), Phase.INFRASTRUCTURE),
    (timedelta(minutes=15), Phase.CONTROL_PLANE),
    (timedelta(minutes=22), Phase.WORKERS),
    (timedelta(minutes=26), Phase.ATTACHED),
    (timedelta(minutes=28), Phase.READY),
)
# A namespace environment (no topology) is a few API calls away from ready.
NAMESPACE_SCHEDULE: tuple[tuple[timedelta, Phase], ...] = (
    (timedelta(0), Phase.ACCEPTED),
    (timedelta(minutes=1), Phase.READY),
)
DELETE_DURATION = timedelta(minutes=5)


@dataclass
class _Env:
    spec: EnvSpec
    created_at: datetime
    deleting_since: datetime | None = None
    failure: str = ""
    vanished: bool = False


class FakeEnvironmentBackend:
    """Environments that exist only in memory and ripen over simulated time."""

    name = "fake"

    def __init__(self, clock: Clock, *, delete_duration: timedelta = DELETE_DURATION) -> None:
        self._clock = clock
        self._delete_duration = delete_duration
        self._lock = threading.Lock()
        self._envs: dict[str, _Env] = {}
        self._next_create_failure: tuple[str, bool] | None = None
        self.calls: list[tuple[str, str]] = []  # (method, env id), in call order

    # ---- hooks for tests and the demo ---------------------------------------------------
    def fail_next_create(self, reason: str, *, temporary: bool = False) -> None:
        """Make the next create() raise `PermanentError(reason)` (or `TemporaryError`)."""
        with self._lock:
            self._next_create_failure = (reason, temporary)

    def fail(self, env_id: str, reason: str) -> None:
        """Make an existing environment report FAILED with `reason` from now on."""
        with self._lock:
            self._envs[env_id].failure = reason

    def vanish(self, env_id: str) -> None:
        """Pretend someone removed the environment's objects outside envbot (drift)."""
        with self._lock:
            self._envs[env_id].vanished = True

    def exists(self, env_id: str) -> bool:
        """Whether the backend still holds the environment (deleted ones are dropped)."""
        with self._lock:
            return env_id in self._envs

    # ---- EnvironmentBackend -------------------------------------------------------------
    def create(self, spec: EnvSpec) -> None:
        """Start the environment's clock; a repeated create is a no-op.

        Raises:
            PermanentError | TemporaryError: when `fail_next_create` armed a failure.
        """
        with self._lock:
            self.calls.append(("create", spec.env_id))
            if self._next_create_failure is not None:
                reason, temporary = self._next_create_failure
                self._next_create_failure = None
                raise TemporaryError(reason, 60.0) if temporary else PermanentError(reason)
            env = self._envs.get(spec.env_id)
            if env is not None and env.deleting_since is not None:
                raise TemporaryError(f"{spec.name} is still being deleted", 60.0)
            if env is None:
                self._envs[spec.env_id] = _Env(spec, self._clock.now())

    def observe(
        self, specs: Sequence[EnvSpec], *, expected_ready: bool = False
    ) -> dict[str, Observation]:
        """The phase each environment has reached by now on the clock, keyed by env id.

        `vanish()` is reported as drift whatever `expected_ready` says.
        """
        del expected_ready
        now = self._clock.now()
        with self._lock:
            self.calls.extend(("observe", s.env_id) for s in specs)
            return {s.env_id: self._observe(s, now) for s in specs}

    def _observe(self, spec: EnvSpec, now: datetime) -> Observation:
        env = self._envs.get(spec.env_id)
        if env is None:
            return Observation(Phase.DELETED, exists=False)
        if env.failure:  # a failure shows whatever the phase, deleting included
            return Observation(Phase.FAILED, failure=env.failure)
        if env.deleting_since is not None:
            if now - env.deleting_since >= self._delete_duration:
                del self._envs[spec.env_id]
                return Observation(Phase.DELETED, exists=False)
            return Observation(Phase.DELETING)
        schedule = CLUSTER_SCHEDULE if spec.is_cluster else NAMESPACE_SCHEDULE
        phase = Phase.ACCEPTED
        for offset, step in schedule:
            if now - env.created_at >= offset:
                phase = step
        endpoints: dict[str, str] = {}
        if phase in (Phase.ATTACHED, Phase.READY):
            host = spec.name if spec.is_cluster else (spec.cluster_ref or "management")
            endpoints["api_server"] = f"https://{host}.{spec.workspace}.example.com/dkp/api-server"
        drift = f"objects of {spec.name} were removed outside envbot" if env.vanished else ""
        return Observation(phase, drift=drift, endpoints=endpoints)

    def delete(self, spec: EnvSpec) -> None:
        """Start deleting (a new delete clears an earlier failure); observe() reports DELETING
        until `delete_duration` has passed."""
        with self._lock:
            self.calls.append(("delete", spec.env_id))
            env = self._envs.get(spec.env_id)
            if env is not None and (env.deleting_since is None or env.failure):
                env.failure = ""
                env.deleting_since = self._clock.now()


class FakeAccessBackend:
    """Grants kept in a dict; records grant/revoke calls and can fail or drift on demand."""

    name = "fake"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, GrantSpec] = {}
        self._drift: dict[str, str] = {}
        self._next_grant_failure: tuple[str, bool] | None = None
        self._revoke_failures = 0
        self.calls: list[tuple[str, str]] = []  # (method, grant id), in call order

    # ---- hooks for tests and the demo ---------------------------------------------------
    def fail_next_grant(self, reason: str, *, temporary: bool = False) -> None:
        """Make the next grant() raise `PermanentError(reason)` (or `TemporaryError`)."""
        with self._lock:
            self._next_grant_failure = (reason, temporary)

    def fail_revokes(self, count: int) -> None:
        """Make the next `count` revoke() calls raise `TemporaryError`."""
        with self._lock:
            self._revoke_failures = count

    def drift(
        self, grant_id: str, what: str = "the grant's objects were removed outside envbot"
    ) -> None:
        """Pretend the grant's objects were removed or changed outside envbot."""
        with self._lock:
            self._active.pop(grant_id, None)
            self._drift[grant_id] = what

    def active(self) -> dict[str, GrantSpec]:
        """The grants currently in force, by id."""
        with self._lock:
            return dict(self._active)

    # ---- AccessBackend ------------------------------------------------------------------
    def grant(self, spec: GrantSpec) -> None:
        """Record the grant as in force; a repeated grant is a no-op.

        Raises:
            PermanentError | TemporaryError: when `fail_next_grant` armed a failure.
        """
        with self._lock:
            self.calls.append(("grant", spec.grant_id))
            if self._next_grant_failure is not None:
                reason, temporary = self._next_grant_failure
                self._next_grant_failure = None
                raise TemporaryError(reason, 60.0) if temporary else PermanentError(reason)
            self._active[spec.grant_id] = spec
            self._drift.pop(spec.grant_id, None)

    def revoke(self, spec: GrantSpec) -> None:
        """Remove the grant; revoking an absent grant is a no-op.

        Raises:
            TemporaryError: while `fail_revokes` has failures left.
        """
        with self._lock:
            self.calls.append(("revoke", spec.grant_id))
            if self._revoke_failures > 0:
                self._revoke_failures -= 1
                raise TemporaryError(f"simulated failure revoking {spec.grant_id}", 60.0)
            self._active.pop(spec.grant_id, None)
            self._drift.pop(spec.grant_id, None)

    def drifted(self, specs: Sequence[GrantSpec]) -> dict[str, str]:
        """Grants that `drift()` touched or that are not in force, id -> what is wrong."""
        with self._lock:
            result: dict[str, str] = {}
            for spec in specs:
                if spec.grant_id in self._drift:
                    result[spec.grant_id] = self._drift[spec.grant_id]
                elif spec.grant_id not in self._active:
                    result[spec.grant_id] = "the grant's objects are missing"
            return result
