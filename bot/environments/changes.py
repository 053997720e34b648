"""`/env extend|transfer|delete` and the Extend, Delete now and Retry buttons."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.db.models import Environment
from bot.domain.commands import Actor, Command, mentioned_user
from bot.domain.durations import format_duration
from bot.domain.states import EnvEvent, EnvState
from bot.environments import render
from bot.environments.approvals import EnvironmentApprovals
from bot.errors import UserError
from bot.lifecycle.extension import Extension
from bot.slack.blocks import Message, text_message


class EnvironmentChanges(EnvironmentApprovals):
    """Changes to an existing environment; only its owner or a workspace owner may make them."""

    # -- change -----------------------------------------------------------------------------

    def extend(self, cmd: Command, actor: Actor) -> Message:
        env = self._find(cmd.arg(0, "an environment name"))
        self._authorize(actor.user_id, env, "extend")
        raw = cmd.args[1] if len(cmd.args) > 1 else None
        now = self.clock.now()

        def tell(s: Session, row: Environment, ext: Extension) -> None:
            row.needs_refresh = True  # the objects' expires-at annotation
            left = format_duration(ext.new - now)
            said = f"<@{actor.user_id}> extended it; it now expires in {left}"
            self.life.thread(s, row, f"extend:{ext.new.isoformat()}", now, said)

        ext = self.extensions.extend(env.id, actor.user_id, raw, tell)
        capped = " (capped at the template's maximum)" if ext.capped else ""
        return text_message(
            f"Extended `{env.name}`: it now expires in {format_duration(ext.new - now)}{capped}."
        )

    def extend_by_step(self, env_id: str, user_id: str) -> Message:
        """The Extend button on a reminder: the template's step, within the cap."""
        env = self._get(env_id)
        return self.extend(Command("env", "extend", (env.name,)), Actor(user_id))

    def transfer(self, cmd: Command, actor: Actor) -> Message:
        env = self._find(cmd.arg(0, "an environment name"))
        target = cmd.arg(1, "the new owner (@user)")
        new_owner = mentioned_user(target)
        if not new_owner:
            raise UserError(
                f'"{target}" is not a Slack user; @-mention them so Slack links the name'
            )
        self._authorize(actor.user_id, env, "transfer")
        if new_owner == env.owner_id:
            who = "you" if new_owner == actor.user_id else f"<@{new_owner}>"
            raise UserError(
                f"{env.name} already belongs to {who}; name the person who should own it, "
                f"e.g. `/env transfer {env.name} @someone`"
            )
        user = self.directory.user(new_owner)
        if user.deleted or not user.email:
            raise UserError(f"<@{new_owner}> cannot own environments (deactivated or no email)")
        now = self.clock.now()
        with self.sessions.begin() as s:
            env = self.life.locked(s, env.id)
            self.hand_over(s, env, (new_owner, user.email), actor.user_id, now)
            self.life.thread(
                s,
                env,
                f"transfer:{now.isoformat()}",
                now,
                f"<@{actor.user_id}> handed it to <@{new_owner}>",
            )
            self.life.dm(
                s,
                new_owner,
                f"transfer:{env.id}:{now.isoformat()}",
                now,
                f"<@{actor.user_id}> handed `{env.name}` to you."
                " `/env access` sends you its instructions.",
            )
        return text_message(f"`{env.name}` now belongs to <@{new_owner}>.")

    def delete(self, cmd: Command, actor: Actor) -> Message:
        """Answer with a Delete button behind Slack's confirm dialog; the click deletes."""
        env = self._find(cmd.arg(0, "an environment name"))
        self._authorize(actor.user_id, env, "delete")
        self._refuse_pending(env)
        return render.delete_confirm(env)

    def _refuse_pending(self, env: Environment) -> None:
        """A request still waiting for approval has nothing to delete: say how to withdraw it."""
        if env.state != EnvState.PENDING_APPROVAL:
            return
        channel = self.policy.workspace(env.workspace).approvals_channel
        raise UserError(
            f"{env.name} is still waiting for approval, so there is nothing to delete yet; "
            f"to withdraw the request, press Cancel on its card in {channel}"
        )

    def delete_now(self, env_id: str, user_id: str) -> Message:
        """The Delete button (confirm dialog, failure card, reminder): start deleting."""
        env = self._get(env_id)
        self._authorize(user_id, env, "delete")
        self._refuse_pending(env)
        self._apply(env.id, EnvEvent.DELETE, user_id, already="is already being deleted")
        return text_message(f"Deleting `{env.name}`; the thread shows when it is gone.")

    def retry(self, env_id: str, user_id: str) -> Message:
        env = self._get(env_id)
        self._authorize(user_id, env, "retry")
        if env.failed_while == "deleting":
            raise UserError(
                f"{env.name} failed while being deleted; press Delete now (or "
                f"/env delete {env.name}) to try the delete again"
            )
        self._apply(env.id, EnvEvent.RETRY, user_id, already="is no longer failed")
        return text_message(f"Retrying `{env.name}`.")
