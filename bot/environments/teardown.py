"""The cloud side of deleting a cluster environment, in the order `dkp delete cluster` keeps.

Every reconcile pass over a DELETING cluster first sweeps the cloud controller's load balancers
of the cluster (a Service the workload cluster still has may get its load balancer back while
the machines live): their DNS names are saved on the environment row, then they are deleted.
The Cluster is deleted only once a sweep leaves none behind, so CAPA can delete the VPC. A
deletion that lasts longer than `cleanup.deleting_timeout` is reported once, with what blocks it.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment
from bot.domain.durations import format_duration
from bot.domain.states import ENV_LIVE
from bot.errors import PermanentError, TemporaryError
from bot.lifecycle.moves import SYSTEM, Lifecycle
from provisioning.cloud import CloudCleaner, CloudTarget

logger = logging.getLogger(__name__)


def ingress_host(env: Environment) -> str:
    """The cluster's ingress host, from the API server address recorded when it was READY."""
    return urlsplit(str((env.endpoints or {}).get("api_server", ""))).hostname or ""


def name_taken(s: Session, env: Environment) -> bool:
    """Whether another environment with `env`'s name is live now (the name is in use again)."""
    other = s.scalar(
        select(Environment.id).where(
            Environment.name == env.name,
            Environment.id != env.id,
            Environment.state.in_(list(ENV_LIVE)),
        )
    )
    return other is not None


def cloud_target(env: Environment, *, taken: bool = False, install_id: str = "") -> CloudTarget:
    """What the cloud may know of `env`: its id, name, lifetime and recorded hosts."""
    ingress = ingress_host(env)
    hosts = {str(h) for h in env.cloud_hosts or []} | ({ingress} if ingress else set())
    return CloudTarget(
        env_id=env.id,
        cluster=env.name,
        workspace=env.workspace,
        created_at=env.created_at,
        ended_at=env.finished_at,
        hosts=frozenset(hosts),
        ingress_host=ingress,
        name_taken=taken,
        install_id=install_id,
    )


class Teardown:
    """Sweeps a deleting cluster's load balancers and reports a deletion that takes too long."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        life: Lifecycle[Environment],
        cloud: CloudCleaner,
        install_id: str = "",
    ) -> None:
        self.install_id = install_id
        self.sessions = sessions
        self.life = life
        self.cloud = cloud
        self._blockers: dict[str, str] = {}  # env id -> what the last sweep left behind

    def sweep(self, env: Environment, now: datetime) -> bool:
        """Record and delete the cluster's load balancers; True when the Cluster may go now.

        Called outside any transaction: the hosts are saved in a transaction of their own
        before anything is deleted, so a crash in between loses no DNS name.
        """
        target = cloud_target(env, install_id=self.install_id)
        try:
            lbs = self.cloud.load_balancers(target)
            self._record(env.id, target.hosts | {lb.dns_name for lb in lbs if lb.dns_name})
            report = self.cloud.delete_load_balancers(target, lbs) if lbs else None
        except TemporaryError as exc:
            self._blockers[env.id] = f"the cloud cannot be reached for now ({exc})"
            logger.warning("load balancers of %s: %s; next pass", env.name, exc)
            return False
        except PermanentError as exc:
            self._blockers[env.id] = f"the load balancers could not be listed or deleted ({exc})"
            self._tell(env.id, now, "lb-error", f"Could not list or delete the cluster's load "
                       f"balancers: {exc}. Deleting the Cluster anyway; if it stays in Deleting, "
                       "delete them by hand.")  # fmt: skip
            return True
        if report is None:
            self._blockers.pop(env.id, None)
            return True
        left = report.by_action("failed") + report.by_action("reported")
        self._blockers[env.id] = "; ".join(f"load balancer {i.id}: {i.detail}" for i in left)
        deleted = [i.id for i in report.by_action("deleted")]
        if deleted:
            digest = hashlib.sha256(",".join(sorted(deleted)).encode()).hexdigest()[:12]
            text = (
                f"Deleted {len(deleted)} load balancer(s) of the cluster's Services before the "
                "Cluster, as `dkp delete cluster` does."
            )
            self._tell(env.id, now, f"lbs:{digest}", text, deleted)
        return not left

    def stuck(self, s: Session, env: Environment, now: datetime, timeout_s: float) -> None:
        """Report once in the thread when the deletion has lasted longer than the timeout."""
        since = env.deleting_since
        if since is None or (now - since).total_seconds() < timeout_s:
            return
        blockers = self._blockers.get(env.id) or (
            "Cluster API is still deleting the Cluster (its machines, then the VPC); "
            "`kubectl describe cluster` on the management cluster shows which step waits"
        )
        text = (
            f"`{env.name}` has been deleting for {format_duration(now - since)}. "
            f"What blocks it: {blockers}."
        )
        if self.life.thread(s, env, f"stuck:{since.isoformat()}", now, text):
            self.life.audit(s, env, "deleting_stuck", SYSTEM, now, blockers=blockers)

    def _record(self, env_id: str, hosts: frozenset[str]) -> None:
        with self.sessions.begin() as s:
            row = s.get(Environment, env_id, with_for_update=True)
            if row is not None and set(row.cloud_hosts or []) != hosts:
                row.cloud_hosts = sorted(hosts)

    def _tell(
        self, env_id: str, now: datetime, key: str, text: str, arns: list[str] | None = None
    ) -> None:
        """One thread reply per deletion round and key; deletions are audited."""
        with self.sessions.begin() as s:
            row = s.get(Environment, env_id, with_for_update=True)
            if row is None:
                return
            since = row.deleting_since.isoformat() if row.deleting_since else ""
            self.life.thread(s, row, f"{key}:{since}", now, text)
            if arns:
                self.life.audit(s, row, "load_balancers_deleted", SYSTEM, now, arns=arns)
