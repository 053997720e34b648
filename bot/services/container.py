"""`Services`: the bundle of use-case objects that handlers and jobs receive."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from bot.access.jobs import AccessJobs
from bot.access.service import AccessService
from bot.domain.clock import Clock
from bot.environments.service import EnvironmentService
from bot.lifecycle.wake import NoWake, Wake
from bot.policy import Policy
from bot.services import offboarding
from bot.services.commands import CommandService
from bot.services.help import HelpService
from bot.services.home import HomeService
from bot.slack.blocks import Message
from bot.slack.notify import Notifier
from bot.slack.ports import Directory, ViewOpener


@dataclass(frozen=True)
class Services:
    """Everything a Slack listener or a job may call; built once by the composition root."""

    policy: Policy
    clock: Clock
    sessions: sessionmaker[Session]
    directory: Directory
    notifier: Notifier
    views: ViewOpener
    help: HelpService
    commands: CommandService
    envs: EnvironmentService
    access: AccessService
    grants: AccessJobs
    home: HomeService
    wake: Wake = field(default_factory=NoWake)  # the job runner: a queued answer goes at once

    def answer(
        self,
        *,
        key: str,
        url: str,
        channel: str,
        user_id: str,
        message: Message,
        replaces: str = "",
    ) -> None:
        """Queue a private answer for an interaction's response_url and wake the drain; in the
        same transaction, withdraw the unsent answer keyed `replaces` (a fallback)."""
        with self.sessions.begin() as s:
            if replaces:
                self.notifier.withdraw_response(s, user_id=user_id, key=replaces)
            self.notifier.respond(
                s,
                now=self.clock.now(),
                key=key,
                url=url,
                channel=channel,
                user_id=user_id,
                message=message,
            )
        self.wake.wake()

    def notify_user(self, user_id: str, message: Message) -> None:
        """Tell a user something by DM (after a modal closes there is no response_url); the
        commit wakes the drain (`wake_on_outbox_commit`)."""
        now = self.clock.now()
        with self.sessions.begin() as s:
            self.notifier.dm(
                s, now=now, user_id=user_id, key=f"note:{secrets.token_hex(6)}", message=message
            )

    def offboard(self, user_id: str) -> None:
        """A deactivated user: commit that they are to be offboarded and wake the offboarding
        job, which ends their grants and hands their environments to the owners (with retries:
        `bot.services.offboarding`). No Slack call here, so nothing here can half-fail."""
        with self.sessions.begin() as s:
            queued = offboarding.request(s, user_id, self.clock.now())
        if queued:
            self.wake.wake()
