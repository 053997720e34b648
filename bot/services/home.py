"""The App Home tab's service: reads my environments, my grants and the approvals waiting for
me, and publishes them as `home_blocks` renders them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.models import AccessRequest, Environment
from bot.domain.clock import Clock
from bot.domain.states import AccessState, EnvState
from bot.policy import Policy
from bot.services.home_blocks import HomeLists, home_tab
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
        """Read the Home tab's lists for `user_id`, render them and publish (views.publish)."""
        self.views.publish_home(user_id, home_tab(self.lists(user_id), self.clock.now()))

    def lists(self, user_id: str) -> HomeLists:
        """What the user's Home tab shows, from current state."""
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
        return HomeLists(envs, grants, waiting, waiting_envs, owns_a_workspace=bool(owned))
