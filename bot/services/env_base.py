"""The shared core of the environment services: lookups, authorization, and state moves.

Each state change is one short transaction that also writes the audit event and queues the
Slack messages (the outbox), so a crash never leaves one without the other. Backends are
called only by the reconcile job (`env_reconcile.py`), never inside a transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks import (
    text_message,
)
from bot.db.models import Environment
from bot.domain.clock import Clock
from bot.domain.states import ENV_LIVE, EnvEvent, EnvState
from bot.errors import Conflict, InvalidTransition, NotAllowed, NotFound
from bot.notify import Notifier
from bot.policy import Policy
from bot.services import render
from bot.services.ports import Directory
from bot.services.transitions import move_env

CONFIRM_BLOCK = "env_delete_confirm"


class EnvironmentBase:
    """State and helpers every environment use case needs."""

    def __init__(
        self,
        policy: Policy,
        clock: Clock,
        sessions: sessionmaker[Session],
        directory: Directory,
        notifier: Notifier,
        channel: str,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.sessions = sessions
        self.directory = directory
        self.notifier = notifier
        self.channel = channel  # where cards are posted when the command came from elsewhere

    # -- shared -----------------------------------------------------------------------------

    def _apply(self, env_id: str, event: EnvEvent, actor: str, *, already: str) -> Environment:
        now = self.clock.now()
        with self.sessions.begin() as s:
            env = self._locked(s, env_id)
            try:
                self._move(s, env, event, actor, now)
            except InvalidTransition:
                raise Conflict(f"{env.name} {already} ({render.state_word(env.state)})") from None
            if env.state == EnvState.DELETING:
                self._phase(s, env, "deleting", now)
            elif env.state == EnvState.PROVISIONING:
                attempt = int(env.spec.get("round", 0)) + 1
                env.spec = {**env.spec, "created": False, "round": attempt}
                env.failure = ""
                self._phase(s, env, f"accepted:{attempt}", now, text="Retrying")
            return env

    def _move(
        self,
        s: Session,
        env: Environment,
        event: EnvEvent,
        actor: str,
        now: datetime,
        **detail: object,
    ) -> None:
        """Apply one state machine event, audit it and refresh the card."""
        move_env(s, self.notifier, env, event, actor, now, **detail)

    def _refresh_card(self, s: Session, env: Environment, now: datetime) -> None:
        s.flush()
        self.notifier.update_card(
            s, now=now, obj=("env", env.id), version=env.version, message=render.env_card(env, now)
        )

    def _phase(
        self, s: Session, env: Environment, phase: str, now: datetime, text: str = ""
    ) -> None:
        words = text or render.PHASE_TEXT.get(phase.split(":")[0], phase)
        self.notifier.thread(
            s, now=now, obj=("env", env.id), key=f"phase:{phase}", message=text_message(words)
        )

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
        with self.sessions() as s:
            env = s.get(Environment, env_id)
        if env is None:
            raise NotFound(f'no environment with id "{env_id}"')
        return env

    @staticmethod
    def _locked(s: Session, env_id: str) -> Environment:
        env = s.get(Environment, env_id, with_for_update=True)
        if env is None:
            raise NotFound(f'no environment with id "{env_id}"')
        return env

    def _is_ws_owner(self, user_id: str, env: Environment) -> bool:
        ws = self.policy.workspaces.get(env.workspace)
        return ws is not None and user_id in self.directory.members(ws.owners)

    def _authorize(self, user_id: str, env: Environment, verb: str) -> None:
        if user_id == env.owner_id or self._is_ws_owner(user_id, env):
            return
        raise NotAllowed(
            f"only the owner of {env.name} (<@{env.owner_id}>) or an owner of "
            f"workspace {env.workspace} can {verb} it; ask them"
        )
