"""The environments' time-driven jobs: expiry starts deleting, pending approval times out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Environment
from bot.domain.states import EnvEvent, EnvState
from bot.environments import render
from bot.environments.report_only import expired_note
from bot.environments.workflow import ENVIRONMENTS
from bot.lifecycle.context import Context, WorkflowUseCases
from bot.lifecycle.due import earliest
from bot.lifecycle.report_only import report_expired, unreported

EXPIRABLE = (EnvState.READY, EnvState.PROVISIONING, EnvState.FAILED)


class EnvironmentExpiry(WorkflowUseCases[Environment]):
    """Expires environments and times out unanswered approval requests."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx, ENVIRONMENTS)

    def expire_due(self) -> int:
        """Start deleting every environment past its expiry (an indexed state+expiry query);
        in report-only mode, say once in its thread what that would delete instead."""
        now = self.clock.now()
        if self.policy.report_only:
            return report_expired(
                self.sessions,
                self.life,
                now,
                Environment.state.in_(EXPIRABLE) & (Environment.expires_at <= now),
                lambda env: env.state in EXPIRABLE and env.expires_at <= now,
                lambda env: expired_note(self.policy, env),
            )
        with self.sessions() as s:
            due = s.scalars(
                select(Environment.id).where(
                    Environment.state.in_(EXPIRABLE), Environment.expires_at <= now
                )
            ).all()

        def tell(s: Session, env: Environment) -> None:
            lived = render.time_left(env, env.created_at)
            self.life.thread(s, env, "expired", now, f"Expired after {lived}: deleting")
            self.life.dm(
                s,
                env.owner_id,
                f"expired:{env.id}",
                now,
                f"`{env.name}` reached its expiry and is being deleted, with everything in it.",
            )

        self.life.sweep(
            self.sessions, due, EnvEvent.EXPIRE, now, tell, lambda env: env.expires_at <= now
        )
        if due:
            self.ctx.wake.wake()
        return len(due)

    def expire_next_due(self, now: datetime) -> datetime | None:
        """When `expire_due` next has work: the earliest expiry of an expirable environment
        (one already past means now); in report-only mode, one whose expiry is not reported yet."""
        expirable = Environment.state.in_(EXPIRABLE)
        if self.policy.report_only:
            return earliest(
                self.sessions,
                Environment.expires_at,
                expirable,
                unreported(ENVIRONMENTS.kind, Environment),
            )
        return earliest(self.sessions, Environment.expires_at, expirable)

    def timeout_due(self) -> int:
        """Environments waiting for approval past their workspace's pending_timeout time out."""
        now = self.clock.now()
        with self.sessions() as s:
            due = s.scalars(
                select(Environment.id).where(
                    Environment.state == EnvState.PENDING_APPROVAL, Environment.next_check_at <= now
                )
            ).all()

        self.life.time_out(
            self.sessions,
            due,
            now,
            lambda env: f"Your request for `{env.name}` timed out; no owner decided in time.",
        )
        return len(due)

    def timeout_next_due(self, now: datetime) -> datetime | None:
        """When `timeout_due` next has work: the earliest deadline of a pending approval."""
        pending = Environment.state == EnvState.PENDING_APPROVAL
        return earliest(self.sessions, Environment.next_check_at, pending)
