"""After a cluster environment is DELETED: remove what Cluster API leaves behind in the cloud
(external-dns records, tagged load balancers, volumes, security groups) and say so in its thread.

The cleaner gets the environment's identity (`teardown.cloud_target`): its id, its lifetime, the
hosts recorded while it lived, and whether its name is live again in another environment.

Level-triggered like the other jobs: a DELETED cluster whose cleanup is pending is due at its
`next_check_at`; a pass that could not finish (a security group still in use, throttling)
leaves it pending and due again later, so nothing is left behind silently.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bot.db.models import Environment
from bot.domain.states import EnvState
from bot.environments.report_only import hold_cleanup
from bot.environments.teardown import cloud_target, name_taken
from bot.environments.workflow import ENVIRONMENTS
from bot.errors import PermanentError, TemporaryError
from bot.lifecycle.context import Context, WorkflowUseCases
from bot.lifecycle.moves import SYSTEM
from provisioning.cloud import CloudCleaner

logger = logging.getLogger(__name__)
PENDING, DONE = "pending", "done"
RETRY_AFTER = timedelta(minutes=10)
MAX_PASSES = 12


class CloudCleanupJob(WorkflowUseCases[Environment]):
    """Runs the cloud cleanup for DELETED cluster environments."""

    def __init__(self, ctx: Context, cloud: CloudCleaner) -> None:
        super().__init__(ctx, ENVIRONMENTS)
        self.cloud = cloud

    def run(self) -> int:
        """Clean up every due environment; returns how many were looked at."""
        now = self.clock.now()
        with self.sessions() as s:
            due = s.scalars(
                select(Environment).where(
                    Environment.state == EnvState.DELETED,
                    Environment.next_check_at <= now,
                    Environment.kind == "cluster",
                    Environment.cloud_cleanup == PENDING,
                )
            ).all()
        for env in due:
            self._clean(env)
        return len(due)

    def next_due(self, now: datetime) -> datetime | None:
        """When `run` next has work: the earliest next check of a pending cleanup."""
        with self.sessions() as s:
            return s.scalar(
                select(func.min(Environment.next_check_at)).where(
                    Environment.state == EnvState.DELETED,
                    Environment.kind == "cluster",
                    Environment.cloud_cleanup == PENDING,
                )
            )

    def _clean(self, env: Environment) -> None:
        if self.policy.report_only:  # say what it would delete, once; delete nothing
            hold_cleanup(
                self.sessions, self.life, self.policy, env.id, self.clock.now(), RETRY_AFTER
            )
            return
        passes = env.cloud_passes + 1
        with self.sessions() as s:
            target = cloud_target(env, taken=name_taken(s, env), install_id=self.ctx.install_id)
        try:
            report = self.cloud.cleanup(target)
        except TemporaryError as exc:
            self._finish(
                env,
                passes,
                f"Cloud cleanup will retry: {exc}",
                retry=True,
                delay=timedelta(seconds=exc.retry_after),
            )
            return
        except PermanentError as exc:
            self._finish(
                env, passes, f"Cloud cleanup failed: {exc}. Check the account by hand.", retry=False
            )
            return
        retry = report.retry and passes < MAX_PASSES
        left = len(report.by_action("reported")) + len(report.by_action("failed"))
        self._finish(
            env,
            passes,
            report.summary(),
            retry=retry,
            detail=len(report.items),
            tell_owner=bool(left) and not retry,
        )

    def _finish(
        self,
        env: Environment,
        passes: int,
        text: str,
        *,
        retry: bool,
        delay: timedelta = RETRY_AFTER,
        detail: int = 0,
        tell_owner: bool = False,
    ) -> None:
        now = self.clock.now()
        with self.sessions.begin() as s:
            row = s.get(Environment, env.id, with_for_update=True)
            if row is None or row.state != EnvState.DELETED:
                return
            row.cloud_passes = passes
            row.cloud_cleanup = PENDING if retry else DONE
            row.next_check_at = now + delay if retry else None
            self.life.audit(
                s, row, "cloud_cleanup", SYSTEM, now, passes=passes, items=detail, retry=retry
            )
            self.life.thread(s, row, f"cloud:{passes}", now, text)
            if tell_owner:
                self.life.dm(
                    s,
                    row.owner_id,
                    f"cloud:{row.id}",
                    now,
                    f"After deleting `{row.name}`, some cloud resources were left in "
                    f"place:\n{text}",
                )
