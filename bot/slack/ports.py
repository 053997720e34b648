"""The Protocols services depend on for things outside the database: people and groups in Slack."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from bot.policy import Principal


@dataclass(frozen=True)
class UserInfo:
    """A Slack user as envbot needs them: the email is their OIDC user name."""

    id: str
    name: str
    email: str
    tz: str = "UTC"
    deleted: bool = False


class Directory(Protocol):
    """Looks people up in Slack. Implementations cache, so services may call freely after ack()."""

    def user(self, user_id: str) -> UserInfo:
        """Return the user, or raise `NotFound` when Slack does not know them."""
        ...

    def members(self, principals: Iterable[Principal]) -> frozenset[str]:
        """Every user id that the principals name (groups expanded, emails looked up)."""
        ...

    def posts_in(self, channel_id: str) -> bool:
        """Whether the bot can post in this channel (it was invited); True when unsure."""
        ...

    def group_id(self, handle: str) -> str | None:
        """The id (S…) of the user group `@handle`, to mention it; None when Slack has none."""
        ...


class ViewOpener(Protocol):
    """Opens a modal for a trigger_id (views.open); only inside the 3 s the trigger lives."""

    def open_view(self, trigger_id: str, view: dict[str, object]) -> None:
        """Open `view`; raises `UserError` when Slack refuses (expired trigger)."""
        ...

    def publish_home(self, user_id: str, view: dict[str, object]) -> None:
        """Publish a user's App Home tab (views.publish)."""
        ...
