"""`/env create|list|show|access`: the environment service that handlers and jobs receive.

It puts together creation and reading (here), changes (`changes.py`), and approvals and
offboarding (`approvals.py`) on the shared core in `core.py`, all on the lifecycle kernel.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.models import RESERVED_NAME_SQL, Environment, new_id
from bot.domain.commands import Actor, Command
from bot.domain.durations import DurationError, format_duration, parse_duration
from bot.domain.states import ENV_LIVE, EnvEvent, EnvState
from bot.domain.until import lifetime_until
from bot.environments import ID_PREFIX, render
from bot.environments.changes import EnvironmentChanges
from bot.errors import Conflict, NotAllowed, UserError
from bot.policy import Template
from bot.slack.blocks import (
    Message,
    lines_message,
    text_message,
)
from bot.slack.card_fallback import channel_ref

RESERVED = text(RESERVED_NAME_SQL)  # the reserved-name index's own predicate
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class EnvironmentService(EnvironmentChanges):
    """Use cases on environments; every method takes the acting user and returns the answer."""

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
        user = self.directory.user(actor.user_id)
        ttl = self._ttl(cmd, template, template_name, user.tz)
        if not user.email:
            raise UserError(
                "your Slack profile has no email, and envbot signs you in by email; "
                "ask a Slack admin to add it"
            )
        env_id = new_id(ID_PREFIX)
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
                _check_name_free(s, name)
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
                    endpoints={},
                )
                self.life.open(
                    s,
                    env,
                    "create",
                    actor.user_id,
                    now,
                    template=template_name,
                    name=name,
                    ttl=format_duration(ttl),
                )
                event = EnvEvent.REQUIRE_APPROVAL if template.approval else EnvEvent.START
                self.life.move(s, env, event, actor.user_id, now)
                channel = self._channel(actor)
                if template.approval:
                    ws = self.policy.workspace(template.workspace)
                    channel = str(ws.approvals_channel)
                    env.next_check_at = now + ws.pending_timeout
                    approvers = self.opening.check(env)
                    self.opening.arm(env, approvers, env.next_check_at, now)
                self.life.post_card(s, env, channel, now, actor.user_id)
                if template.approval:
                    self.opening.notify(s, env, approvers, now)
                if not template.approval:
                    self._phase(s, env, "accepted", now)
        except IntegrityError:
            # Another create took the name between our check and our insert (the reserved-name
            # index refuses the second insert on both databases).
            raise Conflict(_taken(name)) from None
        self.ctx.wake.wake()
        if template.approval:
            return text_message(
                f"`{name}` needs approval from the owners of {template.workspace}; "
                "you will hear back here."
            )
        where = "Follow the progress in the card's thread."
        if not self.ctx.directory.posts_in(channel):
            where = (
                f"I am not in {channel_ref(channel)}, so the card and its thread come to you "
                "as a DM; invite me with `/invite @envbot` to have them here next time."
            )
        return text_message(
            f"Creating `{name}` from `{template_name}` (expires in {format_duration(ttl)}). {where}"
        )

    def _ttl(self, cmd: Command, template: Template, name: str, tz: str) -> timedelta:
        raw, until = cmd.options.get("ttl"), cmd.options.get("until")
        if raw is not None and until is not None:
            raise UserError("give --ttl or --until, not both")
        if until is not None:
            return lifetime_until(
                until, self.clock.now(), tz, template.ttl.max, f"the {name} template's"
            )
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


def _taken(name: str) -> str:
    return f'an environment named "{name}" already exists; pick another name or leave it out'


def _check_name_free(s: Session, name: str) -> None:
    """Refuse a name another environment of this install reserves: one that may still hold
    objects, or a deleted cluster whose cloud cleanup (found by its name) has not finished.

    Raises:
        Conflict: the name is reserved.
    """
    holder = s.scalars(select(Environment).where(Environment.name == name, RESERVED)).first()
    if holder is None:
        return
    if holder.state == EnvState.DELETED:
        raise Conflict(
            f'the name "{name}" stays reserved until the cloud cleanup of the deleted '
            f"environment `{holder.name}` ({holder.id}) has finished; pick another name or "
            "try again after its thread reports the cleanup"
        )
    raise Conflict(_taken(name))


def _generate_name(template: str, user: str, env_id: str) -> str:
    user_part = re.sub(r"[^a-z0-9]+", "-", user.lower()).strip("-")[:20] or "user"
    suffix = env_id[1:5] if len(env_id) > 4 else secrets.token_hex(2)
    return f"{template[:36]}-{user_part}-{suffix}".strip("-")
