"""The fake Slack's directory (team, users, channels, user groups), seeded as the demo workspace."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

TEAM_ID = "T0ENVBOT"
TEAM_NAME = "envbot-demo"
TEAM_DOMAIN = "envbot-demo"
BOT_USER_ID = "U0ENVBOT"
BOT_ID = "B0ENVBOT"
BOT_NAME = "envbot"
APP_ID = "A0ENVBOT"

USER_IDS = {
    "alice": "U0ALICE",
    "bob": "U0BOB",
    "carol": "U0CAROL",
    "dave": "U0DAVE",
    "erin": "U0ERIN",
}
CHANNEL_IDS = {
    "platform": "C0PLATFORM",
    "sandbox-approvals": "C0SBXAPPROVALS",
    "production-approvals": "C0PRDAPPROVALS",
}
USERGROUP_IDS = {
    "engineering": "S0ENGINEERING",
    "sandbox-owners": "S0SBXOWNERS",
    "production-owners": "S0PRDOWNERS",
    "oncall": "S0ONCALL",
    "platform-leads": "S0PLATFORMLEADS",
}
ENGINEERS = ("alice", "bob", "carol", "dave")

_ID_RE = re.compile(r"^[A-Z0-9]+$")


@dataclass(frozen=True)
class User:
    """A workspace member as `users.info` reports it."""

    id: str
    name: str
    real_name: str
    email: str
    tz: str = "UTC"
    deleted: bool = False
    is_bot: bool = False

    @property
    def dm_channel_id(self) -> str:
        """The stable id of the app's DM channel with this user (`D` + the rest of the user id)."""
        return "D" + self.id[1:]

    def to_api(self, now: datetime) -> dict[str, Any]:
        """Render the user the way `users.info` does, with the tz offset valid at `now`."""
        zone = tz_for(self.tz)
        offset = now.astimezone(zone).utcoffset()
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": self.deleted,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "tz": self.tz,
            "tz_label": now.astimezone(zone).tzname() or self.tz,
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "profile": {
                "email": self.email,
                "real_name": self.real_name,
                "real_name_normalized": self.real_name,
                "display_name": self.name,
                "display_name_normalized": self.name,
                "team": TEAM_ID,
            },
        }


@dataclass(frozen=True)
class Channel:
    """A channel: public unless `is_private`; the bot posts only where it is a member."""

    id: str
    name: str
    is_private: bool = False
    bot_member: bool = True

    def post_error(self) -> str | None:
        """Slack's chat.postMessage error for the bot here (without chat:write.public), if any:
        a private channel it is not in is invisible (`channel_not_found`), a public one
        answers `not_in_channel` until someone runs `/invite @envbot`."""
        if self.bot_member:
            return None
        return "channel_not_found" if self.is_private else "not_in_channel"


@dataclass(frozen=True)
class UserGroup:
    """A user group (`@handle`) and its member ids."""

    id: str
    handle: str
    name: str
    users: tuple[str, ...]

    def to_api(self, *, include_users: bool) -> dict[str, Any]:
        """Render the group the way `usergroups.list` does."""
        out: dict[str, Any] = {
            "id": self.id,
            "team_id": TEAM_ID,
            "is_usergroup": True,
            "handle": self.handle,
            "name": self.name,
            "description": "",
            "user_count": len(self.users),
        }
        if include_users:
            out["users"] = list(self.users)
        return out


def tz_for(name: str) -> tzinfo:
    """Return the tzinfo for an IANA name; UTC works even without a tz database."""
    if name in ("UTC", "Etc/UTC"):
        return UTC
    return ZoneInfo(name)


def _check_id(value: str, prefix: str) -> None:
    if not value.startswith(prefix) or not _ID_RE.match(value):
        raise ValueError(f"{value!r} is not a Slack-like id starting with {prefix!r}")


class Workspace:
    """The directory of one fake workspace; not thread-safe (FakeSlack holds the lock)."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.usergroups: dict[str, UserGroup] = {}

    @classmethod
    def demo(cls) -> Workspace:
        """The demo start state of DESIGN.md: five users, five groups, three channels."""
        ws = cls()
        ws.users[BOT_USER_ID] = User(
            BOT_USER_ID, BOT_NAME, "envbot", "envbot@example.com", is_bot=True
        )
        for name in USER_IDS:
            ws.add_user(name, user_id=USER_IDS[name])
        for name, cid in CHANNEL_IDS.items():
            ws.add_channel(name, channel_id=cid)
        engineers = [USER_IDS[name] for name in ENGINEERS]
        ws.add_usergroup("engineering", engineers, USERGROUP_IDS["engineering"])
        ws.add_usergroup("sandbox-owners", [USER_IDS["bob"]], USERGROUP_IDS["sandbox-owners"])
        ws.add_usergroup(
            "production-owners",
            [USER_IDS["carol"], USER_IDS["erin"]],
            USERGROUP_IDS["production-owners"],
        )
        ws.add_usergroup("oncall", [USER_IDS["dave"]], USERGROUP_IDS["oncall"])
        ws.add_usergroup("platform-leads", [USER_IDS["bob"]], USERGROUP_IDS["platform-leads"])
        return ws

    def add_user(
        self,
        name: str,
        *,
        user_id: str | None = None,
        email: str | None = None,
        tz: str = "UTC",
        real_name: str | None = None,
    ) -> User:
        """Add a member; the id defaults to `U0` + the upper-cased name."""
        uid = user_id or "U0" + re.sub(r"[^A-Z0-9]", "", name.upper())
        _check_id(uid, "U")
        tz_for(tz)
        if uid in self.users or self.find_user(name) is not None:
            raise ValueError(f"user {name!r} / {uid} already exists")
        user = User(
            id=uid,
            name=name,
            real_name=real_name or name.capitalize(),
            email=email or f"{name}@example.com",
            tz=tz,
        )
        self.users[uid] = user
        return user

    def add_channel(
        self,
        name: str,
        *,
        channel_id: str | None = None,
        is_private: bool = False,
        bot_member: bool = True,
    ) -> Channel:
        """Add a channel with the bot in it; the id defaults to `C0` + the upper-cased name."""
        name = name.removeprefix("#")
        cid = channel_id or "C0" + re.sub(r"[^A-Z0-9]", "", name.upper())
        _check_id(cid, "C")
        if cid in self.channels or self.find_channel(name) is not None:
            raise ValueError(f"channel {name!r} / {cid} already exists")
        channel = Channel(cid, name, is_private, bot_member)
        self.channels[cid] = channel
        return channel

    def set_bot_member(self, ref: str, member: bool) -> Channel:
        """Invite the bot to a channel (`/invite @envbot`) or remove it."""
        channel = self.find_channel(ref)
        if channel is None:
            raise KeyError(f"no channel {ref!r}")
        channel = dataclasses.replace(channel, bot_member=member)
        self.channels[channel.id] = channel
        return channel

    def add_usergroup(
        self, handle: str, users: list[str], usergroup_id: str | None = None
    ) -> UserGroup:
        """Add a user group; `users` are ids or names."""
        handle = handle.removeprefix("@")
        gid = usergroup_id or "S0" + re.sub(r"[^A-Z0-9]", "", handle.upper())
        _check_id(gid, "S")
        members = tuple(self.require_user(u).id for u in users)
        group = UserGroup(gid, handle, handle.replace("-", " ").title(), members)
        self.usergroups[gid] = group
        return group

    def find_user(self, ref: str) -> User | None:
        """Find a user by id, name or `@name`."""
        if ref in self.users:
            return self.users[ref]
        name = ref.removeprefix("@")
        return next((u for u in self.users.values() if u.name == name), None)

    def require_user(self, ref: str) -> User:
        """Like `find_user` but raises KeyError."""
        user = self.find_user(ref)
        if user is None:
            raise KeyError(f"no user {ref!r}")
        return user

    def replace_user(self, ref: str, **changes: Any) -> User:
        """Replace fields of a user (tz, deleted, email, ...)."""
        user = dataclasses.replace(self.require_user(ref), **changes)
        tz_for(user.tz)
        self.users[user.id] = user
        return user

    def find_channel(self, ref: str) -> Channel | None:
        """Find a channel by id, name or `#name`."""
        if ref in self.channels:
            return self.channels[ref]
        name = ref.removeprefix("#")
        return next((c for c in self.channels.values() if c.name == name), None)

    def find_usergroup(self, ref: str) -> UserGroup | None:
        """Find a user group by id, handle or `@handle`."""
        if ref in self.usergroups:
            return self.usergroups[ref]
        handle = ref.removeprefix("@")
        return next((g for g in self.usergroups.values() if g.handle == handle), None)

    def dm_user(self, channel_id: str) -> User | None:
        """The human user whose app DM channel this is, if any."""
        return next(
            (u for u in self.users.values() if not u.is_bot and u.dm_channel_id == channel_id),
            None,
        )

    def user_by_email(self, email: str) -> User | None:
        """Find a user by email, case-insensitive."""
        wanted = email.lower()
        return next((u for u in self.users.values() if u.email.lower() == wanted), None)

    def conversation_name(self, channel_id: str) -> str:
        """`#platform` for a channel, `DM @alice` for an app DM, else the raw id."""
        channel = self.channels.get(channel_id)
        if channel is not None:
            return f"#{channel.name}"
        user = self.dm_user(channel_id)
        if user is not None:
            return f"DM @{user.name}"
        return channel_id

    def at(self, user_id: str | None) -> str:
        """`@alice` for a user id (or the id itself if unknown)."""
        if user_id is None:
            return "@?"
        user = self.users.get(user_id)
        return f"@{user.name}" if user is not None else user_id
