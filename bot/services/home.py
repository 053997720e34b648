"""The App Home tab: my environments, my grants, and the approvals waiting for me."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, DividerBlock, HeaderBlock
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.blocks import ActionId, actions, button, context, home_view, section
from bot.db.models import AccessRequest, Environment
from bot.domain.clock import Clock
from bot.domain.states import AccessState, EnvState
from bot.policy import Policy
from bot.services import render, render_access
from bot.services.ports import Directory, ViewOpener

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
            out.append(section(render.env_line(env, now)))
            if env.state == EnvState.READY:
                out.append(
                    actions(
                        f"home_env_{env.id}",
                        [
                            button("Extend", ActionId.EXTEND, env.id),
                            button("Delete now", ActionId.DELETE_NOW, env.id, style="danger"),
                        ],
                    )
                )
        if not envs:
            out.append(context("None. Create one with `/env create <template>`."))
        out += [DividerBlock(), HeaderBlock(text="My access")]
        for req in grants:
            out.append(section(render_access.request_line(req, now)))
            if req.state == AccessState.ACTIVE:
                out.append(
                    actions(
                        f"home_grant_{req.id}",
                        [
                            button("Extend", ActionId.EXTEND, req.id),
                            button("Revoke now", ActionId.REVOKE_NOW, req.id, style="danger"),
                        ],
                    )
                )
        if not grants:
            out.append(context("None. Ask with `/access request`."))
        out += [DividerBlock(), HeaderBlock(text="Waiting for my approval")]
        for req in waiting:
            out.append(section(render_access.request_line(req, now) + f"\nReason: {req.reason}"))
            out.append(
                actions(
                    f"home_decide_{req.id}",
                    [
                        button("Approve", ActionId.APPROVE, req.id, style="primary"),
                        button("Deny", ActionId.DENY, req.id, style="danger"),
                    ],
                )
            )
        for env in waiting_envs:
            out.append(section(render.env_line(env, now)))
            out.append(
                actions(
                    f"home_decide_{env.id}",
                    [
                        button("Approve", ActionId.APPROVE, env.id, style="primary"),
                        button("Deny", ActionId.DENY, env.id, style="danger"),
                    ],
                )
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
