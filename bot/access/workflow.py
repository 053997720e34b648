"""The access workflow as the kernel sees it: its table, card and words."""

from __future__ import annotations

from bot.access import KIND, render
from bot.db.models import AccessRequest
from bot.domain.states import AccessEvent, AccessState, next_access_state
from bot.lifecycle.workflow import Workflow


def _next(state: str, event: str) -> str:
    return next_access_state(AccessState(state), AccessEvent(event))


def _word(req: AccessRequest) -> str:
    return AccessState(req.state).value.lower().replace("_", " ")


ACCESS = Workflow(
    kind=KIND,
    model=AccessRequest,
    next_state=_next,
    card=render.request_card,
    label=lambda req: req.id,
    state_word=_word,
    requester=lambda req: req.requester_id,
    workspace=lambda req: req.workspace,
    pending=AccessState.PENDING,
    denied=AccessState.DENIED,
    closed=frozenset({AccessState.CANCELLED, AccessState.TIMED_OUT, AccessState.DENIED}),
)
