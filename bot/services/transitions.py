"""The two moves every state change makes: a table transition with its audit row and card
refresh (environments), and the compare-and-set UPDATE behind every decision button."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from bot.db.models import AccessRequest, Environment
from bot.domain.states import EnvEvent, EnvState, next_env_state
from bot.notify import Notifier
from bot.services import render
from bot.services.audit import record


def move_env(
    s: Session,
    notifier: Notifier,
    env: Environment,
    event: EnvEvent,
    actor: str,
    now: datetime,
    **detail: object,
) -> None:
    """Apply one environment event: new state, audit row, and the card re-rendered in place.

    Raises:
        InvalidTransition: the table has no such move from the current state.
    """
    before = env.state
    env.state = next_env_state(EnvState(before), event)
    env.updated_at = now
    env.next_check_at = now
    if env.state == EnvState.DELETING:
        env.spec = {**env.spec, "delete_requested": False}
    if event == EnvEvent.FAIL:
        # What failed decides what the card offers: a failed delete is retried by deleting.
        env.spec = {**env.spec, "failed_while": before.lower()}
    record(
        s,
        at=now,
        actor=actor,
        object_type="env",
        object_id=env.id,
        action=event,
        from_state=before,
        to_state=env.state,
        **detail,
    )
    s.flush()
    notifier.update_card(
        s, now=now, obj=("env", env.id), version=env.version, message=render.env_card(env, now)
    )


def compare_and_set(
    s: Session,
    model: type[Environment] | type[AccessRequest],
    obj_id: str,
    expected: str,
    **values: Any,
) -> bool:
    """Move `obj_id` out of state `expected` with one conditional UPDATE; False if another
    transaction got there first (a double click, two owners at once). Bumps the version."""
    result = s.execute(
        update(model)
        .where(model.id == obj_id, model.state == expected)
        .values(version=model.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
