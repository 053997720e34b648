"""Approval of environments from templates with `approval: true`, and offboarding owners."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Environment
from bot.domain.states import ENV_LIVE
from bot.environments.core import EnvironmentBase
from bot.environments.workflow import ENVIRONMENTS
from bot.errors import NotFound, TemporaryError
from bot.lifecycle.moves import SYSTEM
from bot.lifecycle.render import deny_modal
from bot.slack.blocks import Message
from bot.slack.ports import UserInfo

logger = logging.getLogger(__name__)


class EnvironmentApprovals(EnvironmentBase):
    """Approve / Deny / Cancel on a pending environment (kernel decisions), and offboarding."""

    def deny_form(self, env_id: str, user_id: str, trigger_id: str) -> Message:
        """Deny asks for an optional reason in a modal first; refused early (before the form
        opens) when this user may not decide."""
        env = self.decisions.check_open(env_id, user_id, "deny")
        self.views.open_view(trigger_id, deny_modal(ENVIRONMENTS.kind, env.id))
        return {}

    def hand_over(
        self,
        s: Session,
        env: Environment,
        new_owner: tuple[str, str],
        actor: str,
        now: datetime,
        action: str = "transfer",
    ) -> str:
        """Give `env` to a new owner (id, email): audit, card, and a re-apply so the objects'
        owner labels follow. Returns the previous owner."""
        old = env.owner_id
        env.owner_id, env.owner_email = new_owner
        env.updated_at = now
        env.needs_refresh = True  # the objects' owner labels
        self.life.audit(s, env, action, actor, now, old_owner=old, new_owner=new_owner[0])
        self.life.refresh(s, env, now)
        return old

    def offboard(self, user_id: str) -> list[str]:
        """Hand a deactivated user's live environments to their workspaces' owners, and tell
        them; each environment in its own transaction, once (one no longer theirs is skipped).

        Run by the offboarding job (`bot.services.offboarding`) until nothing is left: a Slack
        lookup that fails leaves that environment for the next run and goes on with the others.

        Returns:
            Why each environment left for a later run was left (empty when all are done).
        """
        with self.sessions() as s:
            env_ids = s.scalars(
                select(Environment.id)
                .where(Environment.owner_id == user_id, Environment.state.in_(list(ENV_LIVE)))
                .order_by(Environment.created_at, Environment.id)
            ).all()
        left: list[str] = []
        for env_id in env_ids:
            try:
                self._offboard_one(env_id, user_id)
            except TemporaryError as exc:
                logger.info("offboarding %s: %s left for the next run: %s", user_id, env_id, exc)
                left.append(f"{env_id}: {exc}")
        return left

    def _offboard_one(self, env_id: str, user_id: str) -> None:
        env = self.life.get(self.sessions, env_id)
        if env is None or env.owner_id != user_id:
            return
        owners = sorted(self.owners_of(env.workspace) - {user_id})  # Slack: may be temporary
        if not owners:
            return
        heir = self._heir(owners)
        if heir is None:
            logger.warning("offboarding %s: no owner of %s is in Slack", user_id, env.workspace)
            return
        now = self.clock.now()
        with self.sessions.begin() as s:
            row = self.life.locked(s, env_id)
            if row.owner_id != user_id or row.state not in ENV_LIVE:
                return  # handed over by an earlier run (or ended) meanwhile
            self.hand_over(s, row, (heir.id, heir.email), SYSTEM, now, action="offboard")
            self.life.thread(
                s,
                row,
                f"offboard:{user_id}",
                now,
                f"<@{user_id}> was deactivated; <@{heir.id}> owns it now",
            )
            for owner in owners:
                self.life.dm(
                    s,
                    owner,
                    f"offboard:{row.id}",
                    now,
                    f"<@{user_id}> was deactivated. Their environment "
                    f"`{row.name}` in {row.workspace} now belongs to "
                    f"<@{heir.id}>; extend or delete it as you see fit.",
                )

    def _heir(self, owners: list[str]) -> UserInfo | None:
        """The first owner Slack knows (a lookup that fails for now raises TemporaryError)."""
        for owner in owners:
            try:
                return self.directory.user(owner)
            except NotFound:
                continue
        return None
