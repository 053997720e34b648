"""The cloud cleanup job: runs once per deleted cluster, retries what failed, reports leftovers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import Environment, Event, OutboxMessage
from bot.domain.clock import ManualClock
from bot.environments.cloud_cleanup import CloudCleanupJob
from bot.errors import PermanentError, TemporaryError
from bot.lifecycle.context import Context
from bot.slack.notify import Notifier
from provisioning.cloud import CleanupItem, CleanupReport, CloudTarget, NoCloud
from tests.integration.test_access_race import POLICY, Directory


def _context(sessions: sessionmaker[Session], clock: ManualClock) -> Context:
    return Context(POLICY, clock, sessions, Directory(), Notifier())


class ScriptedCloud(NoCloud):
    """Answers each cleanup with the next scripted report or error; holds no load balancers."""

    def __init__(self, *answers: CleanupReport | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str]] = []
        self.targets: list[CloudTarget] = []

    def cleanup(self, target: CloudTarget) -> CleanupReport:
        self.calls.append((target.cluster, target.workspace))
        self.targets.append(target)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _deleted_env(
    sessions: sessionmaker[Session],
    clock: ManualClock,
    kind: str = "cluster",
    *,
    env_id: str = "eclean",
    state: str = "DELETED",
    workspace: str = "sandbox",
    **extra: object,
) -> str:
    now = clock.now()
    with sessions.begin() as s:
        s.add(
            Environment(
                id=env_id,
                name="sandbox-alice-7k2q",
                workspace=workspace,
                template="sandbox",
                kind=kind,
                backend="fake",
                owner_id="U0ALICE",
                owner_email="alice@example.com",
                created_by="U0ALICE",
                reason="",
                state=state,
                phase="",
                created_at=now,
                updated_at=now,
                expires_at=now,
                next_check_at=now,
                attempts=0,
                failure="",
                decided_by="",
                **({"endpoints": {}} | extra),
            )
        )
    return env_id


def _texts(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        return [
            str(r.payload.get("text"))
            for r in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]


SG = CleanupItem("ec2:security-group", "sg-1", "failed", "DependencyViolation")
SG_DONE = CleanupItem("ec2:security-group", "sg-1", "deleted", "tagged owned")
BUCKET = CleanupItem("s3:bucket", "arn:aws:s3:::logs", "reported", "not in cleanup.delete")


def test_retries_until_nothing_fails_then_tells_the_owner_what_is_left(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: the first pass cannot delete a security group yet, the second can
    cloud = ScriptedCloud(CleanupReport((SG, BUCKET)), CleanupReport((SG_DONE, BUCKET)))
    job = CloudCleanupJob(_context(sessions, clock), cloud)
    _deleted_env(sessions, clock)
    # execution
    assert job.run() == 1
    assert job.run() == 0  # not due again until the retry delay passes
    clock.advance(timedelta(minutes=10))
    assert job.run() == 1
    clock.advance(timedelta(hours=1))
    assert job.run() == 0  # done
    # validating
    assert cloud.calls == [("sandbox-alice-7k2q", "sandbox")] * 2
    texts = _texts(sessions)
    assert sum(t.startswith("Cloud cleanup") for t in texts) == 2
    assert any(t.startswith("After deleting `sandbox-alice-7k2q`") for t in texts)
    with sessions() as s:
        events = s.scalars(select(Event).where(Event.action == "cloud_cleanup")).all()
    assert [e.detail["retry"] for e in events] == [True, False]


def test_temporary_and_permanent_errors(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    cloud = ScriptedCloud(TemporaryError("Throttling", 60), PermanentError("AccessDenied"))
    job = CloudCleanupJob(_context(sessions, clock), cloud)
    _deleted_env(sessions, clock)
    job.run()
    clock.advance(timedelta(seconds=60))
    job.run()
    clock.advance(timedelta(hours=1))
    assert job.run() == 0
    texts = _texts(sessions)
    assert "Cloud cleanup will retry: Throttling" in texts[0]
    assert "Cloud cleanup failed: AccessDenied" in texts[1]


def test_namespaces_have_nothing_in_the_cloud(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    cloud = ScriptedCloud()
    _deleted_env(sessions, clock, kind="namespace")
    assert CloudCleanupJob(_context(sessions, clock), cloud).run() == 0
    assert cloud.calls == []


def test_the_cleaner_gets_the_identity_lifetime_and_recorded_hosts(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: a deleted cluster with recorded hosts (its name stays reserved until this cleanup
    # is done: the unique index of 0007 refuses a live environment of that name meanwhile)
    created = clock.now()
    _deleted_env(
        sessions,
        clock,
        cloud_hosts=["a1.elb.amazonaws.com"],
        endpoints={"api_server": "https://ingress-a1.elb.amazonaws.com/dkp/api-server"},
        finished_at=created + timedelta(hours=2),
    )
    cloud = ScriptedCloud(CleanupReport())

    # execution
    CloudCleanupJob(_context(sessions, clock), cloud).run()

    # validating
    [target] = cloud.targets
    assert target.env_id == "eclean"
    assert (target.created_at, target.ended_at) == (created, created + timedelta(hours=2))
    assert target.hosts == {"a1.elb.amazonaws.com", "ingress-a1.elb.amazonaws.com"}
    assert target.ingress_host == "ingress-a1.elb.amazonaws.com"
    assert not target.name_taken
