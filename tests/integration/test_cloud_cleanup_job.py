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
from provisioning.cloud import CleanupItem, CleanupReport
from tests.integration.test_access_race import POLICY, Directory


def _context(sessions: sessionmaker[Session], clock: ManualClock) -> Context:
    return Context(POLICY, clock, sessions, Directory(), Notifier())


class ScriptedCloud:
    """Answers each cleanup with the next scripted report or error."""

    def __init__(self, *answers: CleanupReport | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str]] = []

    def identity(self) -> str:
        return "test"

    def cleanup(self, cluster_name: str, workspace: str) -> CleanupReport:
        self.calls.append((cluster_name, workspace))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _deleted_env(sessions: sessionmaker[Session], clock: ManualClock, kind: str = "cluster") -> str:
    now = clock.now()
    with sessions.begin() as s:
        s.add(
            Environment(
                id="eclean",
                name="sandbox-alice-7k2q",
                workspace="sandbox",
                template="sandbox",
                kind=kind,
                backend="fake",
                owner_id="U0ALICE",
                owner_email="alice@example.com",
                created_by="U0ALICE",
                reason="",
                state="DELETED",
                phase="",
                created_at=now,
                updated_at=now,
                expires_at=now,
                next_check_at=now,
                attempts=0,
                failure="",
                decided_by="",
                endpoints={},
            )
        )
    return "eclean"


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
