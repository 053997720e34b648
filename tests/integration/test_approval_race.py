"""Two of three approvals under a race: approvers pressing Approve at the same moment on a
request that needs two. Exactly one activation, nobody counted twice, and the loser is told.

Runs on SQLite and, with ENVBOT_TEST_DATABASE_URL, on PostgreSQL (row locks, not BEGIN
IMMEDIATE, serialize the votes there)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.access.jobs import AccessJobs
from bot.access.service import AccessService
from bot.db.models import AccessRequest, ApprovalVote, Event
from bot.domain.clock import ManualClock
from bot.errors import Conflict
from bot.lifecycle.context import Context
from bot.policy import load_policy
from bot.slack.notify import Notifier
from provisioning.fake import FakeAccessBackend
from tests.fakes.static_directory import NoViews, StaticDirectory

POLICY = load_policy(Path(__file__).resolve().parents[2] / "examples" / "policy.yaml")
ROUNDS = 15
CAROL, ERIN, DAVE = "U0CAROL", "U0ERIN", "U0DAVE"


class Directory(StaticDirectory):
    """Three owners of production (production admin needs two of them); no Slack here."""

    groups: ClassVar[dict[str, set[str]]] = {
        "production-owners": {CAROL, ERIN, DAVE},
        "platform-leads": {"U0BOB"},
    }

    def group_id(self, handle: str) -> str | None:
        return "S0" + handle.upper().replace("-", "") if handle in self.groups else None


def _service(
    sessions: sessionmaker[Session], clock: ManualClock
) -> tuple[AccessService, FakeAccessBackend, AccessJobs]:
    backend = FakeAccessBackend()
    ctx = Context(POLICY, clock, sessions, Directory(), Notifier())
    grants = AccessJobs(ctx, {"kommander": backend})
    return AccessService(ctx, NoViews(), grants), backend, grants


def _at_once(service: AccessService, req_id: str, approvers: tuple[str, ...]) -> list[str]:
    """Every approver presses Approve at the same moment; each one's answer or refusal."""
    barrier = threading.Barrier(len(approvers))
    outcomes: list[str] = []

    def press(approver: str) -> None:
        barrier.wait()
        try:
            outcomes.append(str(service.approve(req_id, approver)["text"]))
        except Conflict as exc:
            outcomes.append(f"conflict: {exc}")

    threads = [threading.Thread(target=press, args=(a,)) for a in approvers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def _filed(service: AccessService, sessions: sessionmaker[Session]) -> list[str]:
    for i in range(ROUNDS):  # one requester each: a second pending request is refused
        service.submit(f"U0ALICE{i}", "production", "admin", "1h", "race")
    with sessions() as s:
        return list(s.scalars(select(AccessRequest.id).order_by(AccessRequest.id)))


def _activated_once_each(
    ids: list[str], sessions: sessionmaker[Session], backend: FakeAccessBackend, jobs: AccessJobs
) -> None:
    assert backend.calls == []  # a decision commits APPROVED; the job applies it
    jobs.reconcile()
    jobs.reconcile()
    assert sorted(c[1] for c in backend.calls if c[0] == "grant") == ids
    with sessions() as s:
        approvals = s.scalar(
            select(func.count()).select_from(Event).where(Event.action == "approve")
        )
        states = set(s.scalars(select(AccessRequest.state)))
        votes = s.scalar(select(func.count()).select_from(ApprovalVote))
    assert approvals == len(ids)
    assert states == {"ACTIVE"}
    assert votes == 2 * len(ids)  # the loser's vote was rolled back with its transaction


def test_two_second_approvals_at_once_activate_exactly_once(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: carol's approval is in; erin and dave both give the second at the same moment
    service, backend, jobs = _service(sessions, clock)
    ids = _filed(service, sessions)
    for req_id in ids:
        service.approve(req_id, CAROL)

    # execution
    results = {req_id: _at_once(service, req_id, (ERIN, DAVE)) for req_id in ids}

    # validating: one approves, the other is told who did
    for req_id, outcomes in results.items():
        won = [o for o in outcomes if o.startswith(f"Approved `{req_id}`")]
        lost = [o for o in outcomes if o.startswith("conflict:")]
        assert len(won) == 1, outcomes
        assert len(lost) == 1, outcomes
        assert f"{req_id} was already approved by <@U0" in lost[0]
    _activated_once_each(ids, sessions, backend, jobs)


def test_three_approvals_at_once_count_each_vote_once(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup
    service, backend, jobs = _service(sessions, clock)
    ids = _filed(service, sessions)

    # execution: all three owners press Approve on each request at the same moment
    results = {req_id: _at_once(service, req_id, (CAROL, ERIN, DAVE)) for req_id in ids}

    # validating: the first vote waits for one more, the second approves, the third is late
    for req_id, outcomes in results.items():
        assert sum(o.startswith(f"Approved `{req_id}`") for o in outcomes) == 1, outcomes
        assert sum("waiting for 1 more approval" in o for o in outcomes) == 1, outcomes
        assert sum("was already approved by" in o for o in outcomes) == 1, outcomes
    _activated_once_each(ids, sessions, backend, jobs)
