"""`/env extend|transfer|delete` and the Extend, Delete now and Retry buttons."""

from __future__ import annotations

from bot.blocks import (
    ActionId,
    Message,
    actions,
    button,
    message,
    section,
    text_message,
)
from bot.domain.commands import Command, mentioned_user
from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.domain.states import EnvEvent, EnvState
from bot.errors import UserError
from bot.services import render
from bot.services.audit import record
from bot.services.commands import Actor
from bot.services.env_base import CONFIRM_BLOCK, EnvironmentBase


class EnvironmentChanges(EnvironmentBase):
    """Changes to an existing environment; only its owner or a workspace owner may make them."""

    # -- change -----------------------------------------------------------------------------

    def extend(self, cmd: Command, actor: Actor) -> Message:
        name = cmd.arg(0, "an environment name")
        raw = cmd.args[1] if len(cmd.args) > 1 else None
        env = self._find(name)
        self._authorize(actor.user_id, env, "extend")
        template = self.policy.template(env.template)
        try:
            step = parse_duration(raw) if raw else template.ttl.extend_step
        except DurationError as exc:
            raise UserError(str(exc)) from None
        cap = env.created_at + template.ttl.max
        now = self.clock.now()
        with self.sessions.begin() as s:
            env = self._locked(s, env.id)
            if env.state not in (EnvState.READY, EnvState.PROVISIONING):
                raise UserError(
                    f"{env.name} is {render.state_word(env.state)}; only a "
                    "provisioning or ready environment can be extended"
                )
            wanted = env.expires_at + step
            if wanted > cap and (raw or env.expires_at >= cap):
                raise UserError(
                    f"{env.name} can live at most {format_duration(template.ttl.max)} from "
                    f"creation (until {cap:%Y-%m-%d %H:%M} UTC); "
                    f"it already expires {env.expires_at:%Y-%m-%d %H:%M} UTC"
                )
            new_expiry = min(wanted, cap)
            old = env.expires_at
            env.expires_at = new_expiry
            env.spec = {**env.spec, "refresh": True}  # the objects' expires-at annotation
            env.updated_at = now
            record(
                s,
                at=now,
                actor=actor.user_id,
                object_type="env",
                object_id=env.id,
                action="extend",
                from_state=env.state,
                to_state=env.state,
                old_expiry=old.isoformat(),
                new_expiry=new_expiry.isoformat(),
            )
            self._refresh_card(s, env, now)
            self.notifier.thread(
                s,
                now=now,
                obj=("env", env.id),
                key=f"extend:{new_expiry.isoformat()}",
                message=text_message(
                    f"<@{actor.user_id}> extended it; it now "
                    f"expires in {format_duration(new_expiry - now)}"
                ),
            )
        capped = " (capped at the template's maximum)" if new_expiry < wanted else ""
        return text_message(
            f"Extended `{env.name}`: it now expires in {format_duration(new_expiry - now)}{capped}."
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
        user = self.directory.user(new_owner)
        if user.deleted or not user.email:
            raise UserError(f"<@{new_owner}> cannot own environments (deactivated or no email)")
        now = self.clock.now()
        with self.sessions.begin() as s:
            env = self._locked(s, env.id)
            old = env.owner_id
            env.owner_id, env.owner_email, env.updated_at = new_owner, user.email, now
            env.spec = {**env.spec, "refresh": True}  # the objects' owner labels
            record(
                s,
                at=now,
                actor=actor.user_id,
                object_type="env",
                object_id=env.id,
                action="transfer",
                from_state=env.state,
                to_state=env.state,
                old_owner=old,
                new_owner=new_owner,
            )
            self._refresh_card(s, env, now)
            self.notifier.thread(
                s,
                now=now,
                obj=("env", env.id),
                key=f"transfer:{now.isoformat()}",
                message=text_message(f"<@{actor.user_id}> handed it to <@{new_owner}>"),
            )
            self.notifier.dm(
                s,
                now=now,
                user_id=new_owner,
                key=f"transfer:{env.id}:{now.isoformat()}",
                message=text_message(
                    f"<@{actor.user_id}> handed `{env.name}` to you."
                    " `/env access` sends you its instructions."
                ),
            )
        return text_message(f"`{env.name}` now belongs to <@{new_owner}>.")

    def delete(self, cmd: Command, actor: Actor) -> Message:
        """Answer with a Delete button behind Slack's confirm dialog; the click deletes."""
        env = self._find(cmd.arg(0, "an environment name"))
        self._authorize(actor.user_id, env, "delete")
        confirm = button("Delete now", ActionId.DELETE_NOW, env.id, style="danger")
        confirm.confirm = _confirm_dialog(env.name)
        return message(
            f"Delete {env.name}?",
            [
                section(f"Delete *{env.name}* and everything in it? This cannot be undone."),
                actions(CONFIRM_BLOCK, [confirm]),
            ],
        )

    def delete_now(self, env_id: str, user_id: str) -> Message:
        """The Delete button (confirm dialog, failure card, reminder): start deleting."""
        env = self._get(env_id)
        self._authorize(user_id, env, "delete")
        self._apply(env.id, EnvEvent.DELETE, user_id, already="is already being deleted")
        return text_message(f"Deleting `{env.name}`; the thread shows when it is gone.")

    def retry(self, env_id: str, user_id: str) -> Message:
        env = self._get(env_id)
        self._authorize(user_id, env, "retry")
        if env.spec.get("failed_while") == "deleting":
            raise UserError(
                f"{env.name} failed while being deleted; press Delete now (or "
                f"/env delete {env.name}) to try the delete again"
            )
        self._apply(env.id, EnvEvent.RETRY, user_id, already="is no longer failed")
        return text_message(f"Retrying `{env.name}`.")


def _confirm_dialog(name: str) -> dict[str, object]:
    return {
        "title": {"type": "plain_text", "text": "Delete environment?"},
        "text": {"type": "plain_text", "text": f"{name} and everything in it will be deleted."},
        "confirm": {"type": "plain_text", "text": "Delete"},
        "deny": {"type": "plain_text", "text": "Keep it"},
    }
