"""The shared core of the environment use cases: lookups, authorization, and state moves.

Each state change is one short transaction that also writes the audit event and queues the
Slack messages (the outbox), so a crash never leaves one without the other. Backends are
called only by the reconcile job (`reconcile.py`), never inside a transaction.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Environment
from bot.domain.states import ENV_LIVE, EnvEvent, EnvState
from bot.environments import render
from bot.environments.workflow import ENVIRONMENTS, EXTENDABLE, env_limits
from bot.errors import Conflict, NotAllowed, NotFound
from bot.lifecycle.approval_open import ApprovalOpening
from bot.lifecycle.context import Context, WorkflowUseCases
from bot.lifecycle.decisions import Decision, Decisions, Verdict
from bot.lifecycle.extension import Extensions
from bot.slack.ports import ViewOpener


class EnvironmentBase(WorkflowUseCases[Environment]):
    """State and helpers every environment use case needs."""

    def __init__(self, ctx: Context, channel: str, views: ViewOpener) -> None:
        super().__init__(ctx, ENVIRONMENTS)
        self.channel = channel  # where cards are posted when the command came from elsewhere
        self.views = views
        self.decisions = Decisions(ctx, self.life, self._decided)
        self.opening = ApprovalOpening(ctx, self.life)
        limits = partial(env_limits, ctx.policy)
        self.extensions = Extensions(ctx, ENVIRONMENTS, EXTENDABLE, limits)
        self.approve, self.deny, self.cancel = (
            self.decisions.approve,
            self.decisions.deny,
            self.decisions.cancel,
        )
        self.lookup = self.decisions.find

    # -- shared -----------------------------------------------------------------------------

    def _apply(self, env_id: str, event: EnvEvent, actor: str, *, already: str) -> Environment:
        now = self.clock.now()
        with self.sessions.begin() as s:
            env = self.life.locked(s, env_id)
            if not self.life.can(env, event):
                raise Conflict(f"{env.name} {already} ({render.state_word(env.state)})")
            self.life.move(s, env, event, actor, now)
            if env.state == EnvState.DELETING:
                self._phase(s, env, "deleting", now)
            elif env.state == EnvState.PROVISIONING:
                env.retry_round += 1
                env.created = False
                env.phase = ""  # this round's phases are reached (and posted) afresh
                attempt = env.retry_round
                env.failure = ""
                self._phase(s, env, f"accepted:{attempt}", now, text="Retrying")
        self.ctx.wake.wake()
        return env

    def _decided(self, s: Session, env: Environment, decision: Decision) -> None:
        """An environment's own messages after a decision: progress and the owner's DM."""
        if decision.verdict == Verdict.APPROVE:
            self._phase(s, env, "accepted", decision.at)
        if decision.verdict != Verdict.CANCEL:
            self.life.dm(
                s,
                env.owner_id,
                f"decided:{env.id}",
                decision.at,
                f"<@{decision.user_id}> {decision.verb.lower()} `{env.name}`{decision.why}.",
            )

    def _phase(
        self, s: Session, env: Environment, phase: str, now: datetime, text: str = ""
    ) -> None:
        words = text or render.PHASE_TEXT.get(phase.split(":")[0], phase)
        self.life.thread(s, env, f"phase:{phase}", now, words)

    def _find(self, name: str) -> Environment:
        with self.sessions() as s:
            env = s.scalars(
                select(Environment)
                .where(Environment.name == name, Environment.state.in_(list(ENV_LIVE)))
                .order_by(Environment.created_at.desc())
            ).first()
        if env is None:
            raise NotFound(f'no environment named "{name}"; /env list shows yours')
        return env

    def _get(self, env_id: str) -> Environment:
        return self.decisions.find(env_id)

    def _is_ws_owner(self, user_id: str, env: Environment) -> bool:
        return user_id in self.owners_of(env.workspace)

    def _authorize(self, user_id: str, env: Environment, verb: str) -> None:
        if user_id == env.owner_id or self._is_ws_owner(user_id, env):
            return
        raise NotAllowed(
            f"only the owner of {env.name} (<@{env.owner_id}>) or an owner of "
            f"workspace {env.workspace} can {verb} it; ask them"
        )
