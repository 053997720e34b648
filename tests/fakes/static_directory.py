"""A Slack directory without Slack, for tests of the use cases: each user is named after their
id, a group is its members from `groups`; and a view opener that no test expects to be called."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from bot.policy.types import Principal, PrincipalKind
from bot.slack.ports import UserInfo


class StaticDirectory:
    """Subclass and set `groups` (handle -> user ids)."""

    groups: ClassVar[dict[str, set[str]]] = {}

    def user(self, user_id: str) -> UserInfo:
        return UserInfo(id=user_id, name=user_id.lower(), email=f"{user_id.lower()}@example.com")

    def members(self, principals: Iterable[Principal]) -> frozenset[str]:
        out: set[str] = set()
        for p in principals:
            out |= self.groups.get(p.value, set()) if p.kind is PrincipalKind.GROUP else {p.value}
        return frozenset(out)

    def posts_in(self, channel_id: str) -> bool:
        return True

    def group_id(self, handle: str) -> str | None:
        return None


class NoViews:
    """A view opener for use cases that must neither open a modal nor publish a Home tab."""

    def open_view(self, trigger_id: str, view: dict[str, object]) -> None:
        raise AssertionError("no modal expected")

    def publish_home(self, user_id: str, view: dict[str, object]) -> None:
        raise AssertionError("no home tab expected")
