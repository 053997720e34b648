"""What an approver who presses Approve twice is told: how many approvals are still missing,
counting only the votes of people eligible now (an owner removed since no longer counts)."""

from __future__ import annotations

from typing import ClassVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.access.jobs import AccessJobs
from bot.access.service import AccessService
from bot.db.models import AccessRequest
from bot.domain.clock import ManualClock
from bot.errors import Conflict
from bot.lifecycle.context import Context
from bot.policy import Policy
from bot.policy.approvals import ApprovalsOverride
from bot.slack.notify import Notifier
from provisioning.fake import FakeAccessBackend
from tests.fakes.static_directory import NoViews
from tests.integration.test_approval_race import POLICY, Directory

CAROL, ERIN, DAVE, FRED = "U0CAROL", "U0ERIN", "U0DAVE", "U0FRED"


class Owners(Directory):
    """Four owners of production, one of whom the test removes."""

    groups: ClassVar[dict[str, set[str]]] = {
        "production-owners": {CAROL, ERIN, DAVE, FRED},
        "platform-leads": {"U0BOB"},
    }


def _three_of_four() -> Policy:
    ws = POLICY.workspaces["production"]
    admin = ws.roles["admin"].model_copy(
        update={"approvals": ApprovalsOverride.model_validate({"required": 3})}
    )
    prod = ws.model_copy(update={"roles": {**ws.roles, "admin": admin}})
    return POLICY.model_copy(update={"workspaces": {**POLICY.workspaces, "production": prod}})


def test_a_second_press_counts_only_votes_that_still_count(
    sessions: sessionmaker[Session], clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # setup: admin needs 3; carol approves, then leaves the owners; erin approves
    ctx = Context(_three_of_four(), clock, sessions, Owners(), Notifier())
    service = AccessService(ctx, NoViews(), AccessJobs(ctx, {"kommander": FakeAccessBackend()}))
    service.submit("U0ALICE", "production", "admin", "1h", "counts")
    with sessions() as s:
        req_id = s.scalars(select(AccessRequest.id)).one()
    service.approve(req_id, CAROL)
    monkeypatch.setitem(Owners.groups, "production-owners", {ERIN, DAVE, FRED})
    first = str(service.approve(req_id, ERIN)["text"])

    # execution
    with pytest.raises(Conflict) as again:
        service.approve(req_id, ERIN)

    # validating: erin's is the only vote that counts, so two more are needed
    assert "waiting for 2 more approvals" in first
    assert str(again.value) == f"you already approved {req_id}; waiting for 2 more approvals"
