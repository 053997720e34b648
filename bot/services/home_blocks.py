"""The App Home tab's Block Kit, built from lists already read: a pure function, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock

from bot import access, environments
from bot.access import render as render_access
from bot.db.models import AccessRequest, Environment
from bot.domain.states import AccessState, EnvState
from bot.environments import render as render_env
from bot.slack.blocks import (
    ActionId,
    actions,
    button,
    context,
    home_row_block,
    home_view,
    object_value,
    section,
)


@dataclass(frozen=True)
class HomeLists:
    """What one user's Home tab shows, as read from the database."""

    envs: Sequence[Environment]  # mine, live
    grants: Sequence[AccessRequest]  # mine, open or active
    waiting: Sequence[AccessRequest]  # requests waiting for me to decide
    waiting_envs: Sequence[Environment]  # environments waiting for me to decide
    owns_a_workspace: bool


def home_tab(lists: HomeLists, now: datetime) -> dict[str, object]:
    """The views.publish payload of the Home tab."""
    return home_view(home_blocks(lists, now))


def home_blocks(lists: HomeLists, now: datetime) -> list[Block]:
    """My environments, my access, and what waits for my approval (at most 100 blocks)."""
    out: list[Block] = [HeaderBlock(text="My environments")]
    for env in lists.envs:
        out += _row(
            render_env.env_line(env, now),
            object_value(environments.KIND, env.id),
            env.id,
            ("Extend", ActionId.EXTEND),
            ("Delete now", ActionId.DELETE_NOW),
            buttons=env.state == EnvState.READY,
        )
    if not lists.envs:
        out.append(context("None. Create one with `/env create <template>`."))
    out += [DividerBlock(), HeaderBlock(text="My access")]
    for req in lists.grants:
        out += _row(
            render_access.request_line(req, now),
            object_value(access.KIND, req.id),
            req.id,
            ("Extend", ActionId.EXTEND),
            ("Revoke now", ActionId.REVOKE_NOW),
            buttons=req.state == AccessState.ACTIVE,
        )
    if not lists.grants:
        out.append(context("None. Ask with `/access request`."))
    out += [DividerBlock(), HeaderBlock(text="Waiting for my approval")]
    for req in lists.waiting:
        out += _row(
            render_access.request_line(req, now) + f"\nReason: {req.reason}",
            object_value(access.KIND, req.id),
            req.id,
            ("Approve", ActionId.APPROVE),
            ("Deny", ActionId.DENY),
        )
    for env in lists.waiting_envs:
        out += _row(
            render_env.env_line(env, now),
            object_value(environments.KIND, env.id),
            env.id,
            ("Approve", ActionId.APPROVE),
            ("Deny", ActionId.DENY),
        )
    if not (lists.waiting or lists.waiting_envs):
        out.append(
            context(
                "Nothing waits for you."
                if lists.owns_a_workspace
                else "You own no workspace, so nothing waits for your approval."
            )
        )
    return out[:100]


def _row(
    text: str,
    value: str,
    oid: str,
    first: tuple[str, ActionId],
    second: tuple[str, ActionId],
    *,
    buttons: bool = True,
) -> list[Block]:
    """One list entry: its line, and (when it can be acted on) a primary and a danger button."""
    row: list[Block] = [section(text)]
    if buttons:
        row.append(
            actions(
                home_row_block(oid),
                [
                    button(first[0], first[1], value, style="primary"),
                    button(second[0], second[1], value, style="danger"),
                ],
            )
        )
    return row
