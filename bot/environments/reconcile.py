"""The level-triggered reconcile job for environments: create, observe, delete, drift.

Each pass reads what is due from the database, calls the backends outside any transaction,
then applies what it saw in one short transaction per environment. Every thread reply has a
unique outbox key (the phase), so each phase is posted exactly once, even across restarts.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Environment
from bot.domain.states import EnvEvent, EnvState
from bot.environments import render
from bot.environments.spec import env_spec
from bot.environments.teardown import Teardown
from bot.environments.watch import WATCHED, AtRest, at_rest, due_condition, worth_applying
from bot.environments.workflow import ENVIRONMENTS
from bot.errors import NameTaken, PermanentError, TemporaryError
from bot.lifecycle.backends import BackendUseCases
from bot.lifecycle.batch import batch_transaction
from bot.lifecycle.context import Context
from bot.lifecycle.drift import DriftWords, track_drift
from bot.lifecycle.due import now_if_any
from bot.lifecycle.inflight import InFlight
from bot.lifecycle.moves import SYSTEM
from provisioning.base import EnvironmentBackend, EnvSpec, Observation, Phase, SweepsLeftovers
from provisioning.cloud import CloudCleaner, NoCloud
from provisioning.names import CloudNames

logger = logging.getLogger(__name__)

CLUSTER_PHASES = (
    Phase.ACCEPTED,
    Phase.INFRASTRUCTURE,
    Phase.CONTROL_PLANE,
    Phase.WORKERS,
    Phase.ATTACHED,
    Phase.READY,
)
NAMESPACE_PHASES = (Phase.ACCEPTED, Phase.READY)
MAX_TEMPORARY_FAILURES = 10
DRIFT_WORDS = DriftWords(
    seen=lambda what, reapply: (
        f"Drift: {what} (changed outside envbot); "
        + ("re-applying them" if reapply else "reporting only (drift: report)")
    ),
    resolved="Its objects match again.",
)


class EnvironmentReconciler(BackendUseCases[Environment, EnvironmentBackend, EnvSpec]):
    """Moves PROVISIONING to READY and DELETING to DELETED, and reports drift."""

    def __init__(
        self,
        ctx: Context,
        backends: Mapping[str, EnvironmentBackend],
        cloud: CloudCleaner | None = None,
        *,
        names: CloudNames | None = None,
        calls: InFlight | None = None,
    ) -> None:
        """`calls`: where the backend calls run (default: inline, one after another)."""
        super().__init__(
            ctx, ENVIRONMENTS, backends, lambda env, policy: env_spec(env, policy, ctx.install_id)
        )
        cleaner = cloud or NoCloud()
        self.teardown = Teardown(ctx.sessions, self.life, cleaner, ctx.install_id)
        # the AWS side of the name check: `names`, or the cleaner when it can look
        self.cloud_names = names or (cleaner if isinstance(cleaner, CloudNames) else None)
        self.calls = calls or InFlight(0)
        self._writes = threading.Lock()  # see `_write`
        self.at_rest = AtRest()

    def reconcile(self) -> None:
        """One level-triggered pass: load what has work (see `watch`), hand the backend calls
        to the pool, then observe everything watched with one set of list calls per backend."""
        now = self.clock.now()
        full = self.at_rest.full_due(now)
        with self.sessions() as s:
            where = Environment.state.in_(list(WATCHED)) if full else due_condition()
            envs = list(s.scalars(select(Environment).where(where)).all())
        self.at_rest.forget([e.id for e in envs])
        kept = self.at_rest.by_backend()
        groups: dict[str, list[Environment]] = defaultdict(list)
        for env in envs:
            groups[env.backend].append(env)
        for name in kept:
            groups.setdefault(name, [])
        for name, group in groups.items():
            backend = self.backends.get(name)
            if backend is None:
                logger.error("no environment backend %r for %d object(s)", name, len(group))
                continue
            self._reconcile_backend(name, backend, group, kept.get(name, []), now)

    def next_due(self, now: datetime) -> datetime | None:
        """When `reconcile` next has work: now while any environment is PROVISIONING or
        DELETING (its backend moves on by itself, so each pass may see a new phase), or is
        READY with a refresh owed or a drift lasting (each pass re-applies it and looks for
        its end). Drift that starts outside envbot is not in the database; see `Job.next_due`.
        """
        return now_if_any(self.sessions, Environment, now, due_condition())

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A write transaction that holds the row from its read on (BEGIN IMMEDIATE on
        SQLite, whose FOR UPDATE is a no-op: the pass and its calls write the same rows at
        once), one at a time in this process, so our own writers queue on a lock instead of
        sleeping in SQLite's busy handler."""
        with self._writes, batch_transaction(self.sessions) as s:
            yield s

    def settle(self) -> None:
        """Wait for the backend calls handed over so far (the stepped runner's ticks)."""
        self.calls.settle()

    def close(self) -> None:
        """Drop the queued backend calls (shutdown; a later pass makes them again); running
        ones finish on their own."""
        self.calls.close()

    def _reconcile_backend(
        self,
        name: str,
        backend: EnvironmentBackend,
        envs: list[Environment],
        kept: list[EnvSpec],
        now: datetime,
    ) -> None:
        specs = {e.id: self.spec(e) for e in envs}
        for env in envs:
            if env.next_check_at is not None and env.next_check_at > now:
                continue
            self._act(backend, env, specs[env.id], now)
        try:
            seen = backend.observe([*specs.values(), *kept], expected_ready=True)
        except TemporaryError as exc:
            logger.warning("observing %s environments failed, retrying: %s", backend.name, exc)
            for env in envs:
                if env.state == EnvState.READY:
                    self.at_rest.keep(env.id, name, specs[env.id])
            for spec in kept:
                self.at_rest.keep(spec.env_id, name, spec)
            return
        woke = [s.env_id for s in kept if s.env_id in seen and not at_rest(seen[s.env_id])]
        for spec in kept:
            if spec.env_id not in woke:
                self.at_rest.keep(spec.env_id, name, spec)
        if woke:  # a READY environment at rest changed or went: now its row is needed
            self.at_rest.forget(woke)
            with self.sessions() as s:
                query = select(Environment).where(Environment.id.in_(woke))
                envs += [e for e in s.scalars(query).all() if e.id not in specs]
            specs.update({e.id: self.spec(e) for e in envs if e.id not in specs})
        for env in envs:
            obs = seen.get(env.id)
            state: str | None = env.state
            phases = CLUSTER_PHASES if env.kind == "cluster" else NAMESPACE_PHASES
            if obs is not None and worth_applying(env, obs, phases):
                state = self._apply(env.id, obs, now, backend, specs[env.id])
            if state == EnvState.READY and (obs is None or at_rest(obs)):
                self.at_rest.keep(env.id, name, specs[env.id])

    def _act(
        self, backend: EnvironmentBackend, env: Environment, spec: EnvSpec, now: datetime
    ) -> None:
        """Hand this environment's backend call, if it needs one, to the pool."""
        if self.calls.busy(env.id):
            return  # its call is still running: never a second one, nor a delete beside a create
        if env.state == EnvState.PROVISIONING and not env.created:
            create = self._checked_create(backend, env.kind)
            self.calls.submit(env.id, lambda: self._call(env, now, create, spec, "created"))
        elif env.state == EnvState.DELETING:
            # the cloud controller's load balancers go first, as in `dkp delete cluster`
            if env.kind == "cluster" and not self.teardown.sweep(env, now):
                return
            if not env.delete_requested:
                delete = backend.delete
                self.calls.submit(
                    env.id, lambda: self._call(env, now, delete, spec, "delete_requested")
                )
            elif isinstance(backend, SweepsLeftovers):
                sweep = backend.delete_leftovers
                self.calls.submit(
                    env.id, lambda: self._call(env, now, sweep, spec, "delete_requested")
                )
        elif env.state == EnvState.READY and env.needs_refresh:
            self.calls.submit(env.id, lambda: self._refresh(backend, env, spec))

    def _checked_create(self, backend: EnvironmentBackend, kind: str) -> Callable[[EnvSpec], None]:
        """The first create, after the cloud account is asked whether the name is taken (the
        backend checks its own objects in create)."""
        names = self.cloud_names
        if names is None or kind != "cluster":
            return backend.create

        def create(spec: EnvSpec) -> None:
            holder = names.foreign_holder(spec.name, spec.workspace, spec.env_id, spec.install_id)
            if holder:
                raise NameTaken(spec.name, holder)
            backend.create(spec)

        return create

    def _refresh(self, backend: EnvironmentBackend, env: Environment, spec: EnvSpec) -> None:
        """Re-apply a READY environment after its expiry or owner changed, so the labels and
        annotations on its objects (owner, expires-at) say what the database says."""
        try:
            backend.create(spec)
        except (TemporaryError, PermanentError) as exc:
            logger.warning("refreshing %s failed, trying again next pass: %s", env.name, exc)
            return
        with self._write() as s:
            row = s.get(Environment, env.id, with_for_update=True)
            # A transfer or extend that landed while this call ran set the flag again for the
            # next pass: clear it only when the row still says what was applied.
            if row is not None and self.spec(row) == spec:
                row.needs_refresh = False

    def _call(
        self,
        env: Environment,
        now: datetime,
        action: Callable[[EnvSpec], None],
        spec: EnvSpec,
        flag: str,
    ) -> None:
        """Call the backend; on success remember it (`flag`), on failure back off or fail."""
        try:
            action(spec)
        except TemporaryError as exc:
            self._temporary(env.id, now, exc)
            return
        except NameTaken as exc:
            logger.warning("%s: %s (%s)", env.id, exc, exc.detail)
            self._name_taken(env.id, now, str(exc))
            return
        except PermanentError as exc:
            self._fail(env.id, now, str(exc))
            return
        with self._write() as s:
            row = s.get(Environment, env.id, with_for_update=True)
            if row is not None:
                setattr(row, flag, True)
                row.attempts = 0
                setattr(env, flag, True)

    def _temporary(self, env_id: str, now: datetime, exc: TemporaryError) -> None:
        with self._write() as s:
            env = s.get(Environment, env_id, with_for_update=True)
            if env is None:
                return
            attempts = self.life.retry_later(s, env, str(exc), exc.retry_after, now)
            if attempts >= MAX_TEMPORARY_FAILURES:
                self.life.move(s, env, EnvEvent.FAIL, SYSTEM, now)
                self.life.thread(
                    s, env, f"failed:{attempts}", now, f"Failed after {attempts} attempts: {exc}"
                )

    def _fail(self, env_id: str, now: datetime, reason: str) -> None:
        with self._write() as s:
            env = s.get(Environment, env_id, with_for_update=True)
            if env is None or env.state not in (EnvState.PROVISIONING, EnvState.DELETING):
                return
            self._failed(s, env, reason, now, "Failed", "Use Retry or Delete now on the card.")

    def _name_taken(self, env_id: str, now: datetime, reason: str) -> None:
        """The name is held by something envbot does not own: fail, say so in the thread and
        to the owner. Delete now or expiry later removes only what is this environment's."""
        with self._write() as s:
            env = s.get(Environment, env_id, with_for_update=True)
            if env is None or env.state != EnvState.PROVISIONING:
                return
            hint = (
                "Nothing of the other owner's was or will be touched; use Delete now to close it."
            )
            self._failed(s, env, reason, now, "Failed", hint)
            self.life.dm(
                s,
                env.owner_id,
                f"name-taken:{env.id}:{env.retry_round}",
                now,
                f"`{env.name}` could not be created: {reason}.",
            )

    def _failed(
        self, s: Session, env: Environment, reason: str, now: datetime, what: str, hint: str
    ) -> None:
        env.failure = reason
        self.life.move(s, env, EnvEvent.FAIL, SYSTEM, now, reason=reason)
        self.life.thread(s, env, f"failed:{env.version}", now, f"{what}: {reason}. {hint}")

    def _apply(
        self,
        env_id: str,
        obs: Observation,
        now: datetime,
        backend: EnvironmentBackend,
        spec: EnvSpec,
    ) -> str | None:
        """Apply what was seen in one transaction; returns the state after (None: row gone)."""
        reapply = False
        with self._write() as s:
            env = s.get(Environment, env_id, with_for_update=True)
            if env is None:
                return None
            if env.state == EnvState.PROVISIONING:
                self._progress(s, env, obs, now)
            elif env.state == EnvState.DELETING:
                self._deleting(s, env, obs, now)
            elif env.state == EnvState.READY:
                drift = obs.drift or ("" if obs.exists else "its objects are gone")
                reapply = bool(drift) and self.policy.drift == "reapply"
                track_drift(self.life, s, env, drift, now, reapply=reapply, words=DRIFT_WORDS)
            state = env.state
        if reapply:
            self.calls.submit(env_id, lambda: self._reapply(backend, env_id, spec))
        return state

    @staticmethod
    def _reapply(backend: EnvironmentBackend, env_id: str, spec: EnvSpec) -> None:
        try:
            backend.create(spec)
        except (TemporaryError, PermanentError) as exc:
            logger.warning("re-applying %s failed: %s", env_id, exc)

    def _deleting(self, s: Session, env: Environment, obs: Observation, now: datetime) -> None:
        if obs.failure:
            self._failed(
                s, env, obs.failure, now, "Deleting failed", "Use Delete now to try again."
            )
        elif not obs.exists:
            env.finished_at = now
            self.life.move(s, env, EnvEvent.GONE, SYSTEM, now)
            self.life.thread(s, env, "deleted", now, render.PHASE_TEXT["deleted"])
            self.life.dm(
                s,
                env.owner_id,
                f"deleted:{env.id}",
                now,
                f"`{env.name}` is deleted, with everything in it.",
            )
        else:
            timeout = self.policy.cleanup.deleting_timeout.total_seconds()
            self.teardown.stuck(s, env, now, timeout)

    def _progress(self, s: Session, env: Environment, obs: Observation, now: datetime) -> None:
        if obs.failure:
            self._failed(s, env, obs.failure, now, "Failed", "Use Retry or Delete now on the card.")
            return
        phases = CLUSTER_PHASES if env.kind == "cluster" else NAMESPACE_PHASES
        if obs.phase in phases:
            # A phase can go back (ControlPlaneReady False during a rollout): the environment
            # keeps the furthest one it reached, and the outbox keys post each one only once.
            for phase in phases[1 : phases.index(obs.phase) + 1]:
                key = f"phase:{phase}:{env.retry_round}"
                self.life.thread(s, env, key, now, render.PHASE_TEXT[phase])
            if env.phase not in phases or phases.index(env.phase) < phases.index(obs.phase):
                env.phase = obs.phase
        if obs.phase == Phase.READY:
            env.ready_at = now
            env.endpoints = dict(obs.endpoints)
            self.life.move(s, env, EnvEvent.PROVISIONED, SYSTEM, now)
            self.life.dm(
                s,
                env.owner_id,
                f"access:{env.id}:ready",
                now,
                render.access_instructions(env, self.policy),
            )
