"""What every use case of every workflow receives: policy, clock, database, Slack outbox, wake."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic

from sqlalchemy.orm import Session, sessionmaker

from bot.domain.clock import Clock
from bot.lifecycle.moves import Lifecycle
from bot.lifecycle.wake import NoWake, Wake
from bot.lifecycle.workflow import T, Workflow
from bot.policy import Policy
from bot.slack.notify import Notifier
from bot.slack.ports import Directory


@dataclass(frozen=True)
class Context:
    """The shared dependencies, built once by the composition root."""

    policy: Policy
    clock: Clock
    sessions: sessionmaker[Session]
    directory: Directory
    notifier: Notifier
    wake: Wake = field(default_factory=NoWake)
    install_id: str = ""  # this install's id (bot/db/install.py); backends label objects with it


class UseCases:
    """Base of a slice's service classes: the context's parts under their usual names."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def policy(self) -> Policy:
        return self.ctx.policy

    @property
    def clock(self) -> Clock:
        return self.ctx.clock

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.ctx.sessions

    @property
    def directory(self) -> Directory:
        return self.ctx.directory

    @property
    def notifier(self) -> Notifier:
        return self.ctx.notifier

    def owners_of(self, workspace: str) -> frozenset[str]:
        """The user ids that own a workspace (none for a workspace the policy no longer has)."""
        ws = self.policy.workspaces.get(workspace)
        return self.directory.members(ws.owners) if ws is not None else frozenset()

    def owned_workspaces(self, user_id: str) -> list[str]:
        """The workspaces this user owns."""
        return [
            n
            for n, ws in self.policy.workspaces.items()
            if user_id in self.directory.members(ws.owners)
        ]


class WorkflowUseCases(UseCases, Generic[T]):
    """Base of a slice's use cases on its own workflow: the context plus the kernel's moves."""

    def __init__(self, ctx: Context, workflow: Workflow[T]) -> None:
        super().__init__(ctx)
        self.life = Lifecycle(workflow, ctx.notifier)
