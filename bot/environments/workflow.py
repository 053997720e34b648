"""The environments workflow as the kernel sees it: its table, card and words."""

from __future__ import annotations

from bot.db.models import Environment
from bot.domain.states import EnvEvent, EnvState, next_env_state
from bot.environments import KIND, render
from bot.lifecycle.workflow import Workflow


def _next(state: str, event: str) -> str:
    return next_env_state(EnvState(state), EnvEvent(event))


def _on_move(env: Environment, before: str, event: str) -> None:
    if env.state == EnvState.DELETING:
        env.delete_requested = False
    if event == EnvEvent.FAIL:
        # What failed decides what the card offers: a failed delete is retried by deleting.
        env.failed_while = before.lower()


ENVIRONMENTS = Workflow(
    kind=KIND,
    model=Environment,
    next_state=_next,
    card=render.env_card,
    label=lambda env: env.name,
    state_word=lambda env: render.state_word(env.state),
    requester=lambda env: env.created_by,
    workspace=lambda env: env.workspace,
    pending=EnvState.PENDING_APPROVAL,
    denied=EnvState.DENIED,
    closed=frozenset({EnvState.CANCELLED, EnvState.TIMED_OUT}),
    on_move=_on_move,
)
