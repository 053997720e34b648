"""The level-triggered jobs for environments: reconcile (create, observe, delete) and expiry.

Each pass reads what is due from the database, calls the backends outside any transaction,
then applies what it saw in one short transaction per environment. Every thread reply has a
unique outbox key (the phase), so each phase is posted exactly once, even across restarts.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks import text_message
from bot.db.models import Environment
from bot.domain.clock import Clock
from bot.domain.states import EnvEvent, EnvState
from bot.errors import PermanentError, TemporaryError
from bot.notify import Notifier
from bot.policy import ClusterRef, ClusterTopology, Policy
from bot.services import render
from bot.services.audit import record
from bot.services.transitions import move_env
from provisioning.base import ClusterTopology as TopologySpec
from provisioning.base import EnvironmentBackend, EnvSpec, Observation, Phase

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
WATCHED = (EnvState.PROVISIONING, EnvState.DELETING, EnvState.READY)
SYSTEM = "envbot"


class EnvironmentReconciler:
    """Moves PROVISIONING to READY and DELETING to DELETED, reports drift, and expires."""

    def __init__(
        self,
        policy: Policy,
        clock: Clock,
        sessions: sessionmaker[Session],
        notifier: Notifier,
        backends: Mapping[str, EnvironmentBackend],
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.sessions = sessions
        self.notifier = notifier
        self.backends = backends

    # -- expiry -----------------------------------------------------------------------------

    def expire_due(self) -> int:
        """Start deleting every environment past its expiry (an indexed state+expiry query)."""
        now = self.clock.now()
        with self.sessions() as s:
            due = s.scalars(
                select(Environment.id).where(
                    Environment.state.in_([EnvState.READY, EnvState.PROVISIONING, EnvState.FAILED]),
                    Environment.expires_at <= now,
                )
            ).all()
        for env_id in due:
            with self.sessions.begin() as s:
                env = s.get(Environment, env_id, with_for_update=True)
                if (
                    env is None
                    or env.expires_at > now
                    or env.state not in (EnvState.READY, EnvState.PROVISIONING, EnvState.FAILED)
                ):
                    continue
                self._move(s, env, EnvEvent.EXPIRE, now)
                self._thread(
                    s,
                    env,
                    "expired",
                    now,
                    f"Expired after {render.time_left(env, env.created_at)}: deleting",
                )
                self.notifier.dm(
                    s,
                    now=now,
                    user_id=env.owner_id,
                    key=f"expired:{env.id}",
                    message=text_message(
                        f"`{env.name}` reached its expiry and is "
                        "being deleted, with everything in it."
                    ),
                )
        return len(due)

    def timeout_due(self) -> int:
        """Environments waiting for approval past their workspace's pending_timeout time out."""
        now = self.clock.now()
        with self.sessions() as s:
            due = s.scalars(
                select(Environment.id).where(
                    Environment.state == EnvState.PENDING_APPROVAL, Environment.next_check_at <= now
                )
            ).all()
        for env_id in due:
            with self.sessions.begin() as s:
                env = s.get(Environment, env_id, with_for_update=True)
                if env is None or env.state != EnvState.PENDING_APPROVAL:
                    continue
                self._move(s, env, EnvEvent.TIME_OUT, now)
                self._thread(s, env, "timed-out", now, "Timed out: no owner decided in time")
                self.notifier.dm(
                    s,
                    now=now,
                    user_id=env.owner_id,
                    key=f"timeout:{env.id}",
                    message=text_message(
                        f"Your request for `{env.name}` timed out; no owner decided in time."
                    ),
                )
        return len(due)

    # -- reconcile --------------------------------------------------------------------------

    def reconcile(self) -> None:
        """One level-triggered pass over every watched environment, one list per backend."""
        now = self.clock.now()
        with self.sessions() as s:
            envs = s.scalars(select(Environment).where(Environment.state.in_(list(WATCHED)))).all()
        by_backend: dict[str, list[Environment]] = defaultdict(list)
        for env in envs:
            by_backend[env.backend].append(env)
        for name, group in by_backend.items():
            backend = self.backends.get(name)
            if backend is None:
                logger.error("no backend %r for %d environment(s)", name, len(group))
                continue
            self._reconcile_backend(backend, group, now)

    def _reconcile_backend(
        self, backend: EnvironmentBackend, envs: list[Environment], now: datetime
    ) -> None:
        specs = {e.id: self.spec(e) for e in envs}
        for env in envs:
            due = env.next_check_at is None or env.next_check_at <= now
            if not due:
                continue
            if env.state == EnvState.PROVISIONING and not env.spec.get("created"):
                self._call(env, now, lambda e=env: backend.create(specs[e.id]), "created")
            elif env.state == EnvState.DELETING and not env.spec.get("delete_requested"):
                self._call(env, now, lambda e=env: backend.delete(specs[e.id]), "delete_requested")
            elif env.state == EnvState.READY and env.spec.get("refresh"):
                self._refresh(backend, env, specs[env.id])
        try:
            seen = backend.observe(list(specs.values()), expected_ready=True)
        except TemporaryError as exc:
            logger.warning("observing %s environments failed, retrying: %s", backend.name, exc)
            return
        for env in envs:
            obs = seen.get(env.id)
            if obs is not None:
                self._apply(env.id, obs, now, backend, specs[env.id])

    def _refresh(self, backend: EnvironmentBackend, env: Environment, spec: EnvSpec) -> None:
        """Re-apply a READY environment after its expiry or owner changed, so the labels and
        annotations on its objects (owner, expires-at) say what the database says."""
        try:
            backend.create(spec)
        except (TemporaryError, PermanentError) as exc:
            logger.warning("refreshing %s failed, trying again next pass: %s", env.name, exc)
            return
        with self.sessions.begin() as s:
            row = s.get(Environment, env.id, with_for_update=True)
            if row is not None:
                row.spec = {**row.spec, "refresh": False}

    def _call(self, env: Environment, now: datetime, action: object, flag: str) -> None:
        assert callable(action)  # noqa: S101 - a lambda, typed loosely to bind the loop variable
        try:
            action()
        except TemporaryError as exc:
            self._temporary(env.id, now, exc)
            return
        except PermanentError as exc:
            self._fail(env.id, now, str(exc))
            return
        with self.sessions.begin() as s:
            row = s.get(Environment, env.id, with_for_update=True)
            if row is not None:
                row.spec = {**row.spec, flag: True}
                row.attempts = 0
                env.spec = row.spec

    def _temporary(self, env_id: str, now: datetime, exc: TemporaryError) -> None:
        with self.sessions.begin() as s:
            env = s.get(Environment, env_id, with_for_update=True)
            if env is None:
                return
            env.attempts += 1
            env.failure = str(exc)
            if env.attempts >= MAX_TEMPORARY_FAILURES:
                self._move(s, env, EnvEvent.FAIL, now)
                self._thread(
                    s,
                    env,
                    f"failed:{env.attempts}",
                    now,
                    f"Failed after {env.attempts} attempts: {exc}",
                )
                return
            env.next_check_at = now + timedelta(seconds=min(exc.retry_after * env.attempts, 900))

    def _fail(self, env_id: str, now: datetime, reason: str) -> None:
        with self.sessions.begin() as s:
            env = s.get(Environment, env_id, with_for_update=True)
            if env is None or env.state not in (EnvState.PROVISIONING, EnvState.DELETING):
                return
            env.failure = reason
            self._move(s, env, EnvEvent.FAIL, now, reason=reason)
            self._thread(
                s,
                env,
                f"failed:{env.version}",
                now,
                f"Failed: {reason}. Use Retry or Delete now on the card.",
            )

    def _apply(
        self,
        env_id: str,
        obs: Observation,
        now: datetime,
        backend: EnvironmentBackend,
        spec: EnvSpec,
    ) -> None:
        reapply = False
        with self.sessions.begin() as s:
            env = s.get(Environment, env_id, with_for_update=True)
            if env is None:
                return
            if env.state == EnvState.PROVISIONING:
                self._progress(s, env, obs, now)
            elif env.state == EnvState.DELETING:
                if obs.failure:
                    env.failure = obs.failure
                    self._move(s, env, EnvEvent.FAIL, now, reason=obs.failure)
                    self._thread(
                        s,
                        env,
                        f"failed:{env.version}",
                        now,
                        f"Deleting failed: {obs.failure}. Use Delete now to try again.",
                    )
                elif not obs.exists:
                    env.finished_at = now
                    self._move(s, env, EnvEvent.GONE, now)
                    self._thread(s, env, "deleted", now, render.PHASE_TEXT["deleted"])
                    self.notifier.dm(
                        s,
                        now=now,
                        user_id=env.owner_id,
                        key=f"deleted:{env.id}",
                        message=text_message(f"`{env.name}` is deleted, with everything in it."),
                    )
            elif env.state == EnvState.READY:
                reapply = self._drift(s, env, obs, now)
        if reapply:
            try:
                backend.create(spec)
            except (TemporaryError, PermanentError) as exc:
                logger.warning("re-applying %s failed: %s", env_id, exc)

    def _drift(self, s: Session, env: Environment, obs: Observation, now: datetime) -> bool:
        """Report a drift episode once (thread + audit) and close it when the objects are back.

        Returns:
            True when the objects should be re-applied (`drift: reapply`, drift present).
        """
        drift = obs.drift or ("" if obs.exists else "its objects are gone")
        open_drift = str(env.spec.get("drift", ""))
        if not drift:
            if open_drift:
                env.spec = {**env.spec, "drift": ""}
                record(
                    s,
                    at=now,
                    actor=SYSTEM,
                    object_type="env",
                    object_id=env.id,
                    action="drift_resolved",
                    from_state=env.state,
                    to_state=env.state,
                    drift=open_drift,
                )
                self._thread(
                    s,
                    env,
                    f"drift-resolved:{env.spec.get('drift_count', 0)}",
                    now,
                    "Its objects match again.",
                )
            return False
        reapply = self.policy.drift == "reapply"
        if drift != open_drift:
            count = int(env.spec.get("drift_count", 0)) + 1
            env.spec = {**env.spec, "drift": drift, "drift_count": count}
            action = "re-applying them" if reapply else "reporting only (drift: report)"
            record(
                s,
                at=now,
                actor=SYSTEM,
                object_type="env",
                object_id=env.id,
                action="drift",
                from_state=env.state,
                to_state=env.state,
                drift=drift,
                reapply=reapply,
            )
            self._thread(
                s, env, f"drift:{count}", now, f"Drift: {drift} (changed outside envbot); {action}"
            )
        return reapply

    def _progress(self, s: Session, env: Environment, obs: Observation, now: datetime) -> None:
        if obs.failure:
            env.failure = obs.failure
            self._move(s, env, EnvEvent.FAIL, now, reason=obs.failure)
            self._thread(
                s,
                env,
                f"failed:{env.version}",
                now,
                f"Failed: {obs.failure}. Use Retry or Delete now on the card.",
            )
            return
        phases = CLUSTER_PHASES if env.kind == "cluster" else NAMESPACE_PHASES
        if obs.phase in phases:
            attempt = env.spec.get("round", 0)
            for phase in phases[1 : phases.index(obs.phase) + 1]:
                self._thread(s, env, f"phase:{phase}:{attempt}", now, render.PHASE_TEXT[phase])
            env.phase = obs.phase
        if obs.phase == Phase.READY:
            env.ready_at = now
            env.endpoints = dict(obs.endpoints)
            self._move(s, env, EnvEvent.PROVISIONED, now)
            self.notifier.dm(
                s,
                now=now,
                user_id=env.owner_id,
                key=f"access:{env.id}:ready",
                message=render.access_instructions(env, self.policy),
            )

    # -- shared -----------------------------------------------------------------------------

    def _move(
        self, s: Session, env: Environment, event: EnvEvent, now: datetime, **detail: object
    ) -> None:
        move_env(s, self.notifier, env, event, SYSTEM, now, **detail)

    def _thread(self, s: Session, env: Environment, key: str, now: datetime, text: str) -> None:
        self.notifier.thread(s, now=now, obj=("env", env.id), key=key, message=text_message(text))

    def spec(self, env: Environment) -> EnvSpec:
        """The backend's view of an environment, from its row and its template."""
        template = self.policy.templates.get(env.template)
        workspace = self.policy.workspaces.get(env.workspace)
        topology = None
        cluster_ref = role = ""
        quota: dict[str, str] = {}
        if template is not None and isinstance(template.cluster, ClusterTopology):
            c = template.cluster
            topology = TopologySpec(
                cluster_class=c.class_,
                version=c.version,
                control_plane_replicas=c.control_plane_replicas,
                worker_replicas=c.worker_replicas,
                variables=dict(c.variables),
            )
        if template is not None and isinstance(template.cluster, ClusterRef):
            cluster_ref = template.cluster.ref
            role = template.namespace.role
            quota = dict(template.namespace.quota)
        namespace = (
            env.name
            if env.kind == "namespace"
            else ((workspace.namespace if workspace else None) or env.workspace)
        )
        return EnvSpec(
            env_id=env.id,
            name=env.name,
            workspace=env.workspace,
            namespace=namespace,
            template=env.template,
            owner_id=env.owner_id,
            owner_email=env.owner_email,
            expires_at=env.expires_at,
            topology=topology,
            cluster_ref=cluster_ref,
            role=role,
            quota=quota,
        )
