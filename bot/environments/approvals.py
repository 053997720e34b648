"""Approval of environments from templates with `approval: true`, and offboarding owners."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.models import Environment
from bot.domain.states import ENV_LIVE
from bot.environments.core import EnvironmentBase
from bot.environments.workflow import ENVIRONMENTS
from bot.lifecycle.moves import SYSTEM
from bot.lifecycle.render import deny_modal
from bot.slack.blocks import Message


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

    def offboard(self, user_id: str) -> int:
        """Hand a deactivated user's environments to their workspaces' owners, and tell them."""
        now = self.clock.now()
        with self.sessions() as s:
            envs = s.scalars(
                select(Environment).where(
                    Environment.owner_id == user_id, Environment.state.in_(list(ENV_LIVE))
                )
            ).all()
        for env in envs:
            owners = sorted(self.owners_of(env.workspace) - {user_id})
            if not owners:
                continue
            heir = self.directory.user(owners[0])
            with self.sessions.begin() as s:
                row = self.life.locked(s, env.id)
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
                        f"offboard:{env.id}",
                        now,
                        f"<@{user_id}> was deactivated. Their environment "
                        f"`{env.name}` in {env.workspace} now belongs to "
                        f"<@{heir.id}>; extend or delete it as you see fit.",
                    )
        return len(envs)
