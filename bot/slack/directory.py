"""`Directory` on the Slack Web API (users.info, usergroups.*, users.lookupByEmail), cached."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import NotFound, TemporaryError
from bot.policy import Principal, PrincipalKind
from bot.slack.ports import UserInfo
from bot.slack.transient import call_quickly

logger = logging.getLogger(__name__)
T = TypeVar("T")


class SlackDirectory:
    """Looks up users and user groups; answers are cached for `ttl` seconds."""

    def __init__(
        self,
        client: WebClient,
        ttl: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._sleep = sleep
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: str, load: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit and now - hit[0] < self._ttl:
            value: T = hit[1]
            return value
        value = load()
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def user(self, user_id: str) -> UserInfo:
        def load() -> UserInfo:
            try:
                user = self._call(lambda: self._client.users_info(user=user_id))["user"]
            except SlackApiError as exc:
                if exc.response.get("error") == "user_not_found":
                    raise NotFound(f"Slack does not know the user {user_id}") from exc
                raise
            profile = user.get("profile", {})
            return UserInfo(
                id=user["id"],
                name=user.get("name", user["id"]),
                # As the IdP gives it: Kubernetes compares user names case-sensitively
                # (policy `identity.lowercase_email` lower-cases the subjects when needed).
                email=str(profile.get("email", "")),
                tz=user.get("tz") or "UTC",
                deleted=bool(user.get("deleted")),
            )

        return self._cached(f"user:{user_id}", load)

    def members(self, principals: Iterable[Principal]) -> frozenset[str]:
        found: set[str] = set()
        for p in principals:
            if p.kind is PrincipalKind.USER:
                found.add(p.value)
            elif p.kind is PrincipalKind.EMAIL:
                uid = self._by_email(p.value)
                if uid:
                    found.add(uid)
            else:
                found |= self._group_members(p.value)
        return frozenset(found)

    def _by_email(self, email: str) -> str | None:
        def load() -> str | None:
            try:
                resp = self._call(lambda: self._client.users_lookupByEmail(email=email))
            except SlackApiError as exc:
                if exc.response.get("error") == "users_not_found":
                    return None
                raise
            return str(resp["user"]["id"])

        return self._cached(f"email:{email}", load)

    def _group_members(self, handle: str) -> frozenset[str]:
        def load() -> frozenset[str]:
            groups = self._cached("groups", self._load_groups)
            group_id = groups.get(handle)
            if group_id is None:
                logger.warning("Slack has no user group @%s", handle)
                return frozenset()
            resp = self._call(lambda: self._client.usergroups_users_list(usergroup=group_id))
            return frozenset(resp.get("users", []))

        return self._cached(f"group:{handle}", load)

    def group_id(self, handle: str) -> str | None:
        """The id of user group `@handle` (usergroups.list, cached)."""
        groups = self._cached("groups", self._load_groups)
        return groups.get(handle.removeprefix("@").lower())

    def posts_in(self, channel_id: str) -> bool:
        """Whether the bot is a member of a channel (DMs always; True if Slack cannot tell)."""
        if not channel_id.startswith(("C", "G")):
            return True
        try:
            joined = self._cached("joined", self._load_joined)
        except (SlackApiError, TemporaryError):
            return True  # the drain still falls back to a DM if the post fails
        return channel_id in joined

    def _load_joined(self) -> frozenset[str]:
        found: set[str] = set()
        cursor = ""

        def page(cursor: str) -> Callable[[], Any]:
            return lambda: self._client.conversations_list(
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=1000,
                cursor=cursor,
            )

        for _ in range(50):
            resp = self._call(page(cursor))
            found |= {str(c["id"]) for c in resp.get("channels") or [] if c.get("is_member")}
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                break
        return frozenset(found)

    def _load_groups(self) -> dict[str, str]:
        resp = self._call(lambda: self._client.usergroups_list())
        return {g["handle"].lower(): g["id"] for g in resp.get("usergroups", [])}

    def _call(self, fn: Callable[[], Any]) -> Any:
        """One lookup; a 5xx, 429, timeout or dropped connection is retried once quickly,
        then raised as `TemporaryError` (a listener tells the user, a job skips the item)."""
        return call_quickly(fn, "directory lookup", self._sleep)
