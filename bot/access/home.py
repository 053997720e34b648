"""How access requests and grants show on the App Home tab."""

from __future__ import annotations

from datetime import datetime

from bot.access import render
from bot.access.workflow import ACCESS
from bot.db.models import AccessRequest
from bot.domain.states import AccessState
from bot.lifecycle.home import HomeList
from bot.slack.blocks import ActionId

OPEN = frozenset(
    {AccessState.PENDING, AccessState.APPROVED, AccessState.ACTIVE, AccessState.FAILED}
)


def _waiting(req: AccessRequest, now: datetime) -> str:
    return render.request_line(req, now) + f"\nReason: {req.reason}"


ACCESS_HOME = HomeList(
    ACCESS, "My access", "None. Ask with `/access request`.", OPEN, "created_at",
    AccessState.ACTIVE, ("Revoke now", ActionId.REVOKE_NOW), render.request_line, _waiting,
)  # fmt: skip
