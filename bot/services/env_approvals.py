"""Approval of environments from templates with `approval: true`, and offboarding owners."""

from __future__ import annotations

from sqlalchemy import select

from bot.blocks import (
    Message,
    text_message,
)
from bot.db.models import Environment
from bot.domain.states import ENV_LIVE, EnvEvent, EnvState, next_env_state
from bot.errors import Conflict, NotAllowed
from bot.services import render
from bot.services.audit import record
from bot.services.env_base import EnvironmentBase
from bot.services.transitions import compare_and_set


class EnvironmentApprovals(EnvironmentBase):
    """Approve / Deny / Cancel on a pending environment (compare-and-set), and offboarding."""

    # -- approval (templates with approval: true) --------------------------------------------

    def approve(self, env_id: str, user_id: str) -> Message:
        env = self._get(env_id)
        self._authorize_decision(env, user_id, "approve")
        self._decide(env, user_id, EnvEvent.APPROVE, "")
        return text_message(f"Approved `{env.name}`; provisioning starts now.")

    def deny(self, env_id: str, user_id: str, note: str) -> Message:
        env = self._get(env_id)
        self._authorize_decision(env, user_id, "deny")
        self._decide(env, user_id, EnvEvent.DENY, note)
        return text_message(f"Denied `{env.name}`.")

    def cancel(self, env_id: str, user_id: str) -> Message:
        env = self._get(env_id)
        if user_id != env.created_by:
            raise NotAllowed(f"only <@{env.created_by}>, who asked, can cancel {env.name}")
        self._decide(env, user_id, EnvEvent.CANCEL, "")
        return text_message(f"Cancelled `{env.name}`.")

    def check_decidable(self, env_id: str, user_id: str) -> None:
        """Refuse early (before the deny form opens) when this user may not decide."""
        env = self._get(env_id)
        self._authorize_decision(env, user_id, "deny")
        if env.state != EnvState.PENDING_APPROVAL:
            raise Conflict(self._already(env))

    def _authorize_decision(self, env: Environment, user_id: str, verb: str) -> None:
        if not self._is_ws_owner(user_id, env):
            raise NotAllowed(f"only owners of {env.workspace} can {verb}")
        if user_id == env.created_by:
            raise NotAllowed(
                f"you cannot {verb} your own request, even as an owner; "
                f"another owner of {env.workspace} must decide"
            )

    def _already(self, env: Environment) -> str:
        if env.decided_by and env.state != EnvState.CANCELLED:
            verb = "denied" if env.state == EnvState.DENIED else "approved"
            return f"{env.name} was already {verb} by <@{env.decided_by}>"
        return f"{env.name} is already {render.state_word(env.state)}"

    def _decide(self, env: Environment, user_id: str, event: EnvEvent, note: str) -> None:
        now = self.clock.now()
        target = next_env_state(EnvState.PENDING_APPROVAL, event)
        with self.sessions.begin() as s:
            won = compare_and_set(
                s,
                Environment,
                env.id,
                EnvState.PENDING_APPROVAL,
                state=target,
                decided_by=user_id,
                decided_at=now,
                updated_at=now,
                next_check_at=now,
            )
            if not won:
                s.rollback()
                raise Conflict(self._already(self._get(env.id)))
            fresh = s.get(Environment, env.id, populate_existing=True)
            assert fresh is not None  # noqa: S101 - just updated
            record(
                s,
                at=now,
                actor=user_id,
                object_type="env",
                object_id=env.id,
                action=event,
                from_state=EnvState.PENDING_APPROVAL,
                to_state=target,
                note=note,
            )
            self._refresh_card(s, fresh, now)
            why = f": {note}" if note else ""
            verb = {
                EnvEvent.APPROVE: "Approved",
                EnvEvent.DENY: "Denied",
                EnvEvent.CANCEL: "Cancelled",
            }[event]
            self.notifier.thread(
                s,
                now=now,
                obj=("env", env.id),
                key=f"decision:{target}",
                message=text_message(f"{verb} by <@{user_id}>{why}"),
            )
            if event == EnvEvent.APPROVE:
                self._phase(s, fresh, "accepted", now)
            if event != EnvEvent.CANCEL:
                self.notifier.dm(
                    s,
                    now=now,
                    user_id=fresh.owner_id,
                    key=f"decided:{env.id}",
                    message=text_message(f"<@{user_id}> {verb.lower()} `{fresh.name}`{why}."),
                )

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
            ws = self.policy.workspaces.get(env.workspace)
            owners = sorted(self.directory.members(ws.owners) - {user_id}) if ws else []
            if not owners:
                continue
            heir = self.directory.user(owners[0])
            with self.sessions.begin() as s:
                row = self._locked(s, env.id)
                row.owner_id, row.owner_email, row.updated_at = heir.id, heir.email, now
                row.spec = {**row.spec, "refresh": True}
                record(
                    s,
                    at=now,
                    actor="envbot",
                    object_type="env",
                    object_id=env.id,
                    action="offboard",
                    from_state=row.state,
                    to_state=row.state,
                    old_owner=user_id,
                    new_owner=heir.id,
                )
                self._refresh_card(s, row, now)
                self.notifier.thread(
                    s,
                    now=now,
                    obj=("env", env.id),
                    key=f"offboard:{user_id}",
                    message=text_message(f"<@{user_id}> was deactivated; <@{heir.id}> owns it now"),
                )
                for owner in owners:
                    self.notifier.dm(
                        s,
                        now=now,
                        user_id=owner,
                        key=f"offboard:{env.id}",
                        message=text_message(
                            f"<@{user_id}> was deactivated. Their environment "
                            f"`{env.name}` in {env.workspace} now belongs to "
                            f"<@{heir.id}>; extend or delete it as you see fit."
                        ),
                    )
        return len(envs)
