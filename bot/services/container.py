"""`Services`: the bundle of use-case objects that handlers and jobs receive."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.domain.clock import Clock
from bot.policy import Policy
from bot.services.commands import CommandService
from bot.services.environments import EnvironmentService
from bot.services.help import HelpService
from bot.services.ports import Directory


@dataclass(frozen=True)
class Services:
    """Everything a Slack listener or a job may call; built once by the composition root."""

    policy: Policy
    clock: Clock
    sessions: sessionmaker[Session]
    directory: Directory
    help: HelpService
    commands: CommandService
    envs: EnvironmentService
