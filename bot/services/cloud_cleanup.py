"""After a cluster environment is DELETED: remove what Cluster API leaves behind in the cloud
(external-dns records, tagged load balancers, volumes, security groups) and say so in its thread.

Level-triggered like the other jobs: a DELETED cluster whose cleanup is pending is due at its
`next_check_at`; a pass that could not finish (a security group still in use, throttling)
leaves it pending and due again later, so nothing is left behind silently.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks import text_message
from bot.db.models import Environment
from bot.domain.clock import Clock
from bot.domain.states import EnvState
from bot.errors import PermanentError, TemporaryError
from bot.notify import Notifier
from bot.services.audit import record
from provisioning.cloud import CloudCleaner

logger = logging.getLogger(__name__)
PENDING, DONE = "pending", "done"
RETRY_AFTER = timedelta(minutes=10)
MAX_PASSES = 12


class CloudCleanupJob:
    """Runs the cloud cleanup for DELETED cluster environments."""

    def __init__(
        self, clock: Clock, sessions: sessionmaker[Session], notifier: Notifier, cloud: CloudCleaner
    ) -> None:
        self.clock = clock
        self.sessions = sessions
        self.notifier = notifier
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
                )
            ).all()
        due = [e for e in due if e.spec.get("cloud_cleanup", PENDING) == PENDING]
        for env in due:
            self._clean(env)
        return len(due)

    def _clean(self, env: Environment) -> None:
        passes = int(env.spec.get("cloud_passes", 0)) + 1
        try:
            report = self.cloud.cleanup(env.name, env.workspace)
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
            row.spec = {
                **row.spec,
                "cloud_passes": passes,
                "cloud_cleanup": PENDING if retry else DONE,
            }
            row.next_check_at = now + delay if retry else None
            record(
                s,
                at=now,
                actor="envbot",
                object_type="env",
                object_id=row.id,
                action="cloud_cleanup",
                from_state=row.state,
                to_state=row.state,
                passes=passes,
                items=detail,
                retry=retry,
            )
            self.notifier.thread(
                s, now=now, obj=("env", row.id), key=f"cloud:{passes}", message=text_message(text)
            )
            if tell_owner:
                self.notifier.dm(
                    s,
                    now=now,
                    user_id=row.owner_id,
                    key=f"cloud:{row.id}",
                    message=text_message(
                        f"After deleting `{row.name}`, some cloud resources were left in "
                        f"place:\n{text}"
                    ),
                )
