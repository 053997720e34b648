"""The App Home tab's service: reads each workflow's rows for one user (mine, and what waits
for my approval) and publishes them as `home_blocks` renders them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from bot.lifecycle.approval_view import ApprovalState
from bot.lifecycle.context import Context, UseCases
from bot.lifecycle.eligible import approvers
from bot.lifecycle.home import HomeList, HomeRows
from bot.services.home_blocks import home_tab
from bot.slack.ports import ViewOpener

PER_LIST = 15  # 3 lists x (1 + 2 blocks each) stays under Slack's 100-block Home limit


class HomeService(UseCases):
    """Renders and publishes one user's Home tab from current state."""

    def __init__(self, ctx: Context, views: ViewOpener, lists: Sequence[HomeList[Any]]) -> None:
        super().__init__(ctx)
        self.views = views
        self.lists = tuple(lists)

    def publish(self, user_id: str) -> None:
        """Read the Home tab's rows for `user_id`, render them and publish (views.publish)."""
        owned = self.owned_workspaces(user_id)
        rows = self.rows(user_id, owned)
        self.views.publish_home(user_id, home_tab(rows, bool(owned), self.clock.now()))

    def rows(self, user_id: str, owned: list[str]) -> list[HomeRows]:
        """Each workflow's rows for `user_id`, from current state."""
        with self.sessions() as s:
            return [
                HomeRows(
                    src,
                    src.mine(s, user_id, PER_LIST),
                    src.waiting(s, user_id, owned, PER_LIST, partial(self._decides, src, user_id)),
                )
                for src in self.lists
            ]

    def _decides(self, src: HomeList[Any], user_id: str, obj: Any) -> bool:
        """Whether `user_id` may still approve `obj`: eligible now, and not voted yet."""
        view = ApprovalState.of(obj.approval)
        if view is not None and user_id in view.voters:
            return False
        return user_id in approvers(self.policy, self.directory, src.workflow, obj).eligible
