"""The App Home tab: my environments, my grants, and the approvals waiting for me."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.access import render as render_access
from bot.db.models import AccessRequest, Environment
from bot.domain.clock import Clock
from bot.domain.states import AccessState, EnvState
from bot.environments import render
from bot.policy import Policy
from bot.slack.blocks import ActionId, actions, button, context, home_view, section
from bot.slack.ports import Directory, ViewOpener

PER_LIST = 15  # 3 lists x (1 + 2 blocks each) stays under Slack's 100-block Home limit


class HomeService:
    """Renders and publishes one user's Home tab from current state."""

    def __init__(
        self,
        policy: Policy,
        clock: Clock,
        sessions: sessionmaker[Session],
        directory: Directory,
        views: ViewOpener,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.sessions = sessions
        self.directory = directory
        self.views = views

    def publish(self, user_id: str) -> None:
        """Render the Home tab for `user_id` and publish it (views.publish)."""
        self.views.publish_home(user_id, home_view(self.blocks(user_id)))

    def blocks(self, user_id: str) -> list[Block]:
        now = self.clock.now()
        owned = [
            n
            for n, ws in self.policy.workspaces.items()
            if user_id in self.directory.members(ws.owners)
        ]
        with self.sessions() as s:
            envs = s.scalars(
                select(Environment)
                .where(
                    Environment.owner_id == user_id,
                    Environment.state.in_(
                        [
                            EnvState.PENDING_APPROVAL,
                            EnvState.PROVISIONING,
                            EnvState.READY,
                            EnvState.FAILED,
                            EnvState.DELETING,
                        ]
                    ),
                )
                .order_by(Environment.expires_at)
                .limit(PER_LIST)
            ).all()
            grants = s.scalars(
                select(AccessRequest)
                .where(
                    AccessRequest.requester_id == user_id,
                    AccessRequest.state.in_(
                        [
                            AccessState.PENDING,
                            AccessState.APPROVED,
                            AccessState.ACTIVE,
                            AccessState.FAILED,
                        ]
                    ),
                )
                .order_by(AccessRequest.created_at)
                .limit(PER_LIST)
            ).all()
            waiting = s.scalars(
                select(AccessRequest)
                .where(
                    AccessRequest.workspace.in_(owned),
                    AccessRequest.state == AccessState.PENDING,
                    AccessRequest.requester_id != user_id,
                )
                .order_by(AccessRequest.created_at)
                .limit(PER_LIST)
            ).all()
            waiting_envs = s.scalars(
                select(Environment)
                .where(
                    Environment.workspace.in_(owned),
                    Environment.state == EnvState.PENDING_APPROVAL,
                    Environment.created_by != user_id,
                )
                .limit(PER_LIST)
            ).all()
        out: list[Block] = [HeaderBlock(text="My environments")]
        for env in envs:
            ready = env.state == EnvState.READY
            out += _row(
                render.env_line(env, now),
                env.id,
                ("Extend", ActionId.EXTEND),
                ("Delete now", ActionId.DELETE_NOW),
                buttons=ready,
            )
        if not envs:
            out.append(context("None. Create one with `/env create <template>`."))
        out += [DividerBlock(), HeaderBlock(text="My access")]
        for req in grants:
            active = req.state == AccessState.ACTIVE
            out += _row(
                render_access.request_line(req, now),
                req.id,
                ("Extend", ActionId.EXTEND),
                ("Revoke now", ActionId.REVOKE_NOW),
                buttons=active,
            )
        if not grants:
            out.append(context("None. Ask with `/access request`."))
        out += [DividerBlock(), HeaderBlock(text="Waiting for my approval")]
        for req in waiting:
            line = render_access.request_line(req, now) + f"\nReason: {req.reason}"
            out += _row(line, req.id, ("Approve", ActionId.APPROVE), ("Deny", ActionId.DENY))
        for env in waiting_envs:
            out += _row(
                render.env_line(env, now),
                env.id,
                ("Approve", ActionId.APPROVE),
                ("Deny", ActionId.DENY),
            )
        if not (waiting or waiting_envs):
            out.append(
                context(
                    "Nothing waits for you."
                    if owned
                    else "You own no workspace, so nothing waits for your approval."
                )
            )
        return out[:100]


def _row(
    text: str,
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
                f"home_{oid}",
                [
                    button(first[0], first[1], oid, style="primary"),
                    button(second[0], second[1], oid, style="danger"),
                ],
            )
        )
    return row
