"""The cloud half of the name check before an environment's first create (`CloudNames`): a
cluster name tagged in the account by someone else fails the environment before any create."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment, OutboxMessage
from bot.domain.clock import ManualClock
from bot.domain.commands import Actor, parse_command
from bot.environments.reconcile import EnvironmentReconciler
from bot.environments.service import EnvironmentService
from bot.lifecycle.context import Context
from bot.slack.notify import Notifier
from provisioning.fake import FakeEnvironmentBackend
from provisioning.names import CloudNames
from tests.fakes.static_directory import NoViews
from tests.integration.test_access_race import Directory
from tests.integration.test_env_names import POLICY


class TaggedAccount:
    """An account where a load balancer is tagged for the cluster `prod-db` by another owner."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str, str]] = []

    def foreign_holder(
        self, cluster_name: str, workspace: str, env_id: str, install_id: str
    ) -> str:
        self.asked.append((cluster_name, workspace, env_id, install_id))
        if cluster_name != "prod-db":
            return ""
        return "load balancer k8s-prod-db tagged kubernetes.io/cluster/prod-db=owned"


def _run(
    sessions: sessionmaker[Session], clock: ManualClock, name: str
) -> tuple[Environment, list[str], TaggedAccount, FakeEnvironmentBackend]:
    ctx = Context(POLICY, clock, sessions, Directory(), Notifier(), install_id="inst-a")
    EnvironmentService(ctx, "#platform", NoViews()).create(
        parse_command("env", f"create sandbox {name}"), Actor("U0ALICE")
    )
    account, backend = TaggedAccount(), FakeEnvironmentBackend(clock)
    assert isinstance(account, CloudNames)
    EnvironmentReconciler(ctx, {"capi": backend}, names=account).reconcile()
    with sessions() as s:
        env = s.scalars(select(Environment).where(Environment.name == name)).one()
        texts = [f"{m.kind}:{m.payload.get('text')}" for m in s.scalars(select(OutboxMessage))]
    return env, texts, account, backend


def test_a_name_tagged_in_the_account_by_someone_else_fails_before_any_create(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    env, texts, account, backend = _run(sessions, clock, "prod-db")
    reason = "the name `prod-db` is taken by something envbot does not own; pick another name"
    assert (env.state, env.failure) == ("FAILED", reason)
    assert account.asked == [("prod-db", "sandbox", env.id, "inst-a")]
    assert backend.calls == [("observe", env.id)]  # never created
    said = [t.split(":", 1)[0] for t in texts if reason in t]
    assert sorted(said) == ["dm", "post"]  # the thread reply and the DM


def test_a_free_name_is_created(sessions: sessionmaker[Session], clock: ManualClock) -> None:
    env, _, account, backend = _run(sessions, clock, "free-one")
    assert env.state == "PROVISIONING"
    assert env.created
    assert ("create", env.id) in backend.calls
    assert [a[0] for a in account.asked] == ["free-one"]
