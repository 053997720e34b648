"""App Home's "waiting for my approval" under many escalated requests: an owner of another
workspace still sees the request that waits for them (the escalated ones of a workspace they
may not decide must not crowd it out of the list)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from sqlalchemy.orm import Session, sessionmaker

from bot.access.home import ACCESS_HOME
from bot.db.models import AccessRequest, new_id
from bot.domain.clock import ManualClock
from bot.lifecycle.context import Context
from bot.lifecycle.home import HomeRows
from bot.policy import load_policy
from bot.services.home import PER_LIST, HomeService
from bot.slack.notify import Notifier
from tests.fakes.static_directory import NoViews, StaticDirectory

POLICY = load_policy(Path(__file__).resolve().parents[2] / "examples" / "policy.yaml")
ALICE, SAM, BOB = "U0ALICE", "U0SAM", "U0BOB"


class Directory(StaticDirectory):
    """Sam owns sandbox only; bob leads the platform (production's escalation group)."""

    groups: ClassVar[dict[str, set[str]]] = {
        "sandbox-owners": {SAM},
        "production-owners": {"U0CAROL", "U0ERIN"},
        "platform-leads": {BOB},
    }


def _pending(s: Session, workspace: str, role: str, clock: ManualClock, escalated: bool) -> str:
    now = clock.now()
    req = AccessRequest(
        id=new_id("r"), requester_id=ALICE, subject="alice@example.com", workspace=workspace,
        role=role, backend="kommander", duration_s=3600, reason="r", state="PENDING",
        created_at=now, updated_at=now, pending_until=now + timedelta(days=1), decided_by="",
        decision_note="", end_reason="", attempts=0, failure="", next_check_at=now,
        escalated_at=now if escalated else None,
    )  # fmt: skip
    s.add(req)
    clock.advance(timedelta(seconds=1))
    return req.id


def test_many_escalated_requests_elsewhere_do_not_hide_mine(
    sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    # setup: more escalated production requests than the list reads ahead, then one in sandbox
    with sessions.begin() as s:
        for _ in range(PER_LIST * 4 + 5):
            _pending(s, "production", "admin", clock, escalated=True)
        mine = _pending(s, "sandbox", "view", clock, escalated=False)
    home = HomeService(
        Context(POLICY, clock, sessions, Directory(), Notifier()), NoViews(), [ACCESS_HOME]
    )

    # execution
    (rows,) = [r for r in _rows(home, SAM) if r.source is ACCESS_HOME]
    (bobs,) = [r for r in _rows(home, BOB) if r.source is ACCESS_HOME]

    # validating: sam sees his sandbox request; bob (escalation) sees a full page of production
    assert [r.id for r in rows.waiting] == [mine]
    assert len(bobs.waiting) == PER_LIST
    assert all(r.workspace == "production" for r in bobs.waiting)


def _rows(home: HomeService, user_id: str) -> list[HomeRows]:
    return home.rows(user_id, home.owned_workspaces(user_id))
