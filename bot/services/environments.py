"""`/env create|list|show|extend|transfer|delete|access` and the Retry/Delete buttons.

Each state change is one short transaction that also writes the audit event and queues the
Slack messages (the outbox), so a crash never leaves one without the other. Backends are
called only by the reconcile job (`env_reconcile.py`), never inside a transaction.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks import (
    ActionId,
    Message,
    actions,
    button,
    lines_message,
    message,
    section,
    text_message,
)
from bot.db.models import Environment, new_id
from bot.domain.clock import Clock
from bot.domain.commands import Command, mentioned_user
from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.domain.states import ENV_LIVE, EnvEvent, EnvState, next_env_state
from bot.errors import Conflict, InvalidTransition, NotAllowed, NotFound, UserError
from bot.notify import Notifier
from bot.policy import Policy, Template
from bot.services import render
from bot.services.audit import record
from bot.services.commands import Actor
from bot.services.ports import Directory
from bot.services.transitions import compare_and_set, move_env

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
CONFIRM_BLOCK = "env_delete_confirm"


class EnvironmentService:
    """Use cases on environments; every method takes the acting user and returns the answer."""

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

    # -- create -----------------------------------------------------------------------------

    def create(self, cmd: Command, actor: Actor) -> Message:
        """Validate everything, then record the environment and queue its card."""
        template_name = cmd.arg(0, "a template name")
        template = self.policy.template(template_name)
        if template.allowed and actor.user_id not in self.directory.members(template.allowed):
            who = ", ".join(str(p) for p in template.allowed)
            raise NotAllowed(
                f'template "{template_name}" is open to {who} only; see /env templates for yours'
            )
        ttl = self._ttl(cmd, template, template_name)
        user = self.directory.user(actor.user_id)
        if not user.email:
            raise UserError(
                "your Slack profile has no email, and envbot signs you in by email; "
                "ask a Slack admin to add it"
            )
        env_id = new_id("e")
        name = (
            cmd.args[1] if len(cmd.args) > 1 else _generate_name(template_name, user.name, env_id)
        )
        if not DNS_LABEL.match(name):
            raise UserError(
                f'"{name}" is not a valid name: use at most 63 lower-case letters, '
                "digits and dashes, starting and ending with a letter or digit"
            )
        now = self.clock.now()
        try:
            with self.sessions.begin() as s:
                self._check_quota(s, template_name, template, actor.user_id)
                clash = s.scalar(
                    select(Environment.id).where(
                        Environment.workspace == template.workspace,
                        Environment.name == name,
                        Environment.state.in_(list(ENV_LIVE)),
                    )
                )
                if clash:
                    raise Conflict(
                        f'an environment named "{name}" already exists in workspace '
                        f"{template.workspace}; pick another name or leave it out"
                    )
                env = Environment(
                    id=env_id,
                    name=name,
                    workspace=template.workspace,
                    template=template_name,
                    kind=template.kind,
                    backend=self._backend_name(template),
                    owner_id=actor.user_id,
                    owner_email=user.email,
                    created_by=actor.user_id,
                    reason=cmd.options.get("reason", ""),
                    state=EnvState.REQUESTED,
                    phase="",
                    created_at=now,
                    updated_at=now,
                    expires_at=now + ttl,
                    next_check_at=now,
                    attempts=0,
                    failure="",
                    decided_by="",
                    spec={},
                    endpoints={},
                )
                s.add(env)
                record(
                    s,
                    at=now,
                    actor=actor.user_id,
                    object_type="env",
                    object_id=env_id,
                    action="create",
                    to_state=EnvState.REQUESTED,
                    template=template_name,
                    name=name,
                    ttl=format_duration(ttl),
                )
                event = EnvEvent.REQUIRE_APPROVAL if template.approval else EnvEvent.START
                self._move(s, env, event, actor.user_id, now)
                channel = self._channel(actor)
                if template.approval:
                    ws = self.policy.workspace(template.workspace)
                    channel = str(ws.approvals_channel)
                    env.next_check_at = now + ws.pending_timeout
                self.notifier.card(
                    s,
                    now=now,
                    obj=("env", env.id),
                    channel=channel,
                    message=render.env_card(env, now),
                )
                if not template.approval:
                    self._phase(s, env, "accepted", now)
        except IntegrityError:
            # Another create took the name between our check and our insert.
            raise Conflict(
                f'an environment named "{name}" already exists in workspace '
                f"{template.workspace}; pick another name or leave it out"
            ) from None

        if template.approval:
            return text_message(
                f"`{name}` needs approval from the owners of {template.workspace}; "
                "you will hear back here."
            )
        return text_message(
            f"Creating `{name}` from `{template_name}` (expires in "
            f"{format_duration(ttl)}). Follow the progress in the card's thread."
        )

    def _ttl(self, cmd: Command, template: Template, name: str) -> timedelta:
        raw = cmd.options.get("ttl")
        if raw is None:
            return template.ttl.default
        try:
            ttl = parse_duration(raw)
        except DurationError as exc:
            raise UserError(f"--ttl {exc}") from None
        if ttl > template.ttl.max:
            raise UserError(
                f"--ttl {raw} is over the {name} template's maximum of "
                f"{format_duration(template.ttl.max)}; ask for that or less"
            )
        return ttl

    def _check_quota(self, s: Session, name: str, template: Template, user_id: str) -> None:
        live = (Environment.template == name) & Environment.state.in_(list(ENV_LIVE))
        if template.quota.per_user is not None:
            mine = (
                s.scalar(
                    select(func.count())
                    .select_from(Environment)
                    .where(live, Environment.owner_id == user_id)
                )
                or 0
            )
            if mine >= template.quota.per_user:
                raise UserError(
                    f"you already have {mine} {name} environment(s), the most one "
                    "person may have; delete one with /env delete <name> first"
                )
        if template.quota.total is not None:
            total = s.scalar(select(func.count()).select_from(Environment).where(live)) or 0
            if total >= template.quota.total:
                raise UserError(
                    f"the {name} template is at its limit of {template.quota.total} "
                    "environments; try again when one is deleted"
                )

    @staticmethod
    def _backend_name(template: Template) -> str:
        return template.backend or ("capi" if template.kind == "cluster" else "namespace")

    def _channel(self, actor: Actor) -> str:
        return actor.channel_id or self.channel

    # -- read -------------------------------------------------------------------------------

    def list(self, cmd: Command, actor: Actor) -> Message:
        now = self.clock.now()
        with self.sessions() as s:
            query = select(Environment).where(Environment.state.in_(list(ENV_LIVE)))
            if "all" not in cmd.flags:
                query = query.where(Environment.owner_id == actor.user_id)
            envs = s.scalars(query.order_by(Environment.created_at)).all()
        if not envs:
            hint = "" if "all" in cmd.flags else " (`/env list --all` shows everyone's)"
            return text_message(f"No environments{hint}. Create one with /env create <template>.")
        title = "All environments" if "all" in cmd.flags else "Your environments"
        return lines_message(title, [render.env_line(e, now) for e in envs])

    def show(self, cmd: Command, actor: Actor) -> Message:
        env = self._find(cmd.arg(0, "an environment name"))
        return lines_message(env.name, render.env_details(env, self.clock.now()))

    def access(self, cmd: Command, actor: Actor) -> Message:
        env = self._find(cmd.arg(0, "an environment name"))
        if actor.user_id != env.owner_id and not self._is_ws_owner(actor.user_id, env):
            raise NotAllowed(
                f"only the owner of {env.name} (<@{env.owner_id}>) or an owner of "
                f"{env.workspace} can get its access instructions"
            )
        if env.state != EnvState.READY:
            raise UserError(
                f"{env.name} is {render.state_word(env.state)}, not ready; the "
                "instructions come privately once it is"
            )
        return render.access_instructions(env, self.policy)

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

    def retry(self, env_id: str, user_id: str) -> Message:
        env = self._get(env_id)
        self._authorize(user_id, env, "retry")
        self._apply(env.id, EnvEvent.RETRY, user_id, already="is no longer failed")
        return text_message(f"Retrying `{env.name}`.")

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


def _generate_name(template: str, user: str, env_id: str) -> str:
    user_part = re.sub(r"[^a-z0-9]+", "-", user.lower()).strip("-")[:20] or "user"
    suffix = env_id[1:5] if len(env_id) > 4 else secrets.token_hex(2)
    return f"{template[:36]}-{user_part}-{suffix}".strip("-")


def _confirm_dialog(name: str) -> dict[str, object]:
    return {
        "title": {"type": "plain_text", "text": "Delete environment?"},
        "text": {"type": "plain_text", "text": f"{name} and everything in it will be deleted."},
        "confirm": {"type": "plain_text", "text": "Delete"},
        "deny": {"type": "plain_text", "text": "Keep it"},
    }
