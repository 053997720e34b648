"""Two owners approve the same request at the same moment: exactly one wins, every time."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.access.jobs import AccessJobs
from bot.access.service import AccessService
from bot.db.models import AccessRequest, Event
from bot.domain.clock import ManualClock
from bot.errors import Conflict, NotAllowed
from bot.lifecycle.context import Context
from bot.policy import load_policy
from bot.slack.notify import Notifier
from provisioning.fake import FakeAccessBackend
from tests.fakes.static_directory import NoViews, StaticDirectory

POLICY = load_policy(Path(__file__).resolve().parents[2] / "examples" / "policy.yaml")
ROUNDS = 50


class Directory(StaticDirectory):
    """Two owners of sandbox (bob, erin) and a requester (alice); no Slack needed here."""

    groups: ClassVar[dict[str, set[str]]] = {
        "sandbox-owners": {"U0BOB", "U0ERIN"},
        "engineering": {"U0ALICE", "U0BOB"},
    }


def _service(
    sessions: sessionmaker[Session], clock: ManualClock
) -> tuple[AccessService, FakeAccessBackend, AccessJobs]:
    backend = FakeAccessBackend()
    notifier = Notifier()
    ctx = Context(POLICY, clock, sessions, Directory(), notifier)
    grants = AccessJobs(ctx, {"kommander": backend})
    service = AccessService(ctx, NoViews(), grants)
    return service, backend, grants


def test_concurrent_double_approval_grants_once(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup
    service, backend, jobs = _service(sessions, clock)
    for i in range(ROUNDS):  # one requester each: a second identical pending request is refused
        service.submit(f"U0ALICE{i}", "sandbox", "admin", "2h", "race")
    with sessions() as s:
        ids = s.scalars(select(AccessRequest.id)).all()
    assert len(ids) == ROUNDS
    # execution: two owners press Approve on each request at the same moment
    for req_id in ids:
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def press(
            owner: str,
            req_id: str = req_id,
            barrier: threading.Barrier = barrier,
            outcomes: list[str] = outcomes,
        ) -> None:
            barrier.wait()
            try:
                service.approve(req_id, owner)
                outcomes.append("won")
            except Conflict as exc:
                outcomes.append(str(exc))

        threads = [threading.Thread(target=press, args=(o,)) for o in ("U0BOB", "U0ERIN")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # validating: one winner, and the loser is told who won
        assert outcomes.count("won") == 1, outcomes
        (loser,) = [o for o in outcomes if o != "won"]
        assert f"{req_id} was already approved by <@U0" in loser
    # a decision only commits APPROVED: no click called the backend; the job applies each once
    assert backend.calls == []
    jobs.reconcile()
    jobs.reconcile()
    grants = [c for c in backend.calls if c[0] == "grant"]
    assert sorted(g[1] for g in grants) == sorted(ids)
    with sessions() as s:
        approvals = s.scalar(
            select(func.count()).select_from(Event).where(Event.action == "approve")
        )
        states = set(s.scalars(select(AccessRequest.state)).all())
    assert approvals == ROUNDS
    assert states == {"ACTIVE"}


def test_self_approval_and_non_owner_are_refused(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    service, backend, jobs = _service(sessions, clock)
    service.submit("U0BOB", "sandbox", "view", "1d", "bob asks")
    with sessions() as s:
        req_id = s.scalars(select(AccessRequest.id)).one()
    with pytest.raises(NotAllowed, match="cannot approve your own request"):
        service.approve(req_id, "U0BOB")
    with pytest.raises(NotAllowed, match="only owners of sandbox can approve"):
        service.approve(req_id, "U0ALICE")
    service.approve(req_id, "U0ERIN")
    assert backend.calls == []  # the click commits APPROVED; the job applies it
    jobs.reconcile()
    assert backend.calls == [("grant", req_id)]
