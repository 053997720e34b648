"""A fake Slack Web API on loopback HTTP for the real WebClient, used by tests and `envbot demo`."""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from slack_sdk import WebClient

from bot.demo.fake_slack_api import ApiError, Params, SlackApi
from bot.demo.fake_slack_faults import DROPPED, Failure, FaultProfile
from bot.demo.fake_slack_http import FakeSlackServer
from bot.demo.fake_slack_limits import Limiter, RateLimits
from bot.demo.fake_slack_scopes import MANIFEST_SCOPES, needed_scopes
from bot.demo.fake_slack_seen import WhatUsersSee
from bot.demo.fake_slack_store import Store
from bot.demo.fake_slack_workspace import Channel, User, UserGroup, Workspace

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "xoxb-envbot-demo"  # noqa: S105 - the fake's well-known demo token


@dataclass(frozen=True)
class Call:
    """One recorded Web API (or response_url) call: the outcome is `error` None for ok."""

    method: str
    params: dict[str, Any]
    status: int = 200
    error: str | None = None


class FakeSlack(WhatUsersSee):
    """The fake Slack server plus helpers for tests and the demo; every method is thread-safe."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        now: Callable[[], datetime] | None = None,
        workspace: Workspace | None = None,
        scopes: frozenset[str] = MANIFEST_SCOPES,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.token = token
        self._clock_now = now
        self.scopes = scopes
        self._lock = threading.RLock()
        self._ws = workspace if workspace is not None else Workspace.demo()
        self._store = Store(self._ws, now)
        self._api = SlackApi(self._ws, self._store)
        self._calls: list[Call] = []
        self._failures: dict[str, list[Failure]] = {}
        self._faults: FaultProfile | None = None
        self._server: FakeSlackServer | None = None
        self._thread: threading.Thread | None = None
        self.limiter: Limiter | None = None
        self.set_rate_limits(rate_limits)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        """Listen on 127.0.0.1 on a free port, serving from a daemon thread."""
        if self._server is not None:
            return self
        server = FakeSlackServer(self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="fake-slack", daemon=True
        )
        self._thread.start()
        logger.info("fake Slack listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>` (start() first)."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """The `base_url` for WebClient: `<url>/api/`."""
        return self.url + "/api/"

    def web_client(self, **kwargs: Any) -> WebClient:
        """A real WebClient pointed at this fake with the bot token."""
        kwargs.setdefault("token", self.token)
        return WebClient(base_url=self.api_url, **kwargs)

    # -- directory -------------------------------------------------------------------------

    def user(self, ref: str) -> User:
        """A user by id, name or `@name` (KeyError if unknown)."""
        with self._lock:
            return self._ws.require_user(ref)

    def user_id(self, name: str) -> str:
        """The id of a user (`alice`, `@alice`)."""
        return self.user(name).id

    def channel_id(self, name: str) -> str:
        """The id of a channel (`platform`, `#platform`)."""
        with self._lock:
            channel = self._ws.find_channel(name)
        if channel is None:
            raise KeyError(f"no channel {name!r}")
        return channel.id

    def usergroup_id(self, handle: str) -> str:
        """The id of a user group (`sandbox-owners`, `@sandbox-owners`)."""
        with self._lock:
            group = self._ws.find_usergroup(handle)
        if group is None:
            raise KeyError(f"no user group {handle!r}")
        return group.id

    def dm_channel_id(self, user: str) -> str:
        """The stable id of the app's DM channel with a user."""
        return self.user(user).dm_channel_id

    def conversation_name(self, channel_id: str) -> str:
        """`#platform`, `DM @alice`, or the raw id."""
        with self._lock:
            return self._ws.conversation_name(channel_id)

    def add_user(
        self,
        name: str,
        *,
        user_id: str | None = None,
        email: str | None = None,
        tz: str = "UTC",
        real_name: str | None = None,
    ) -> User:
        """Add a member (id defaults to `U0<NAME>`, email to `<name>@example.com`)."""
        with self._lock:
            return self._ws.add_user(name, user_id=user_id, email=email, tz=tz, real_name=real_name)

    def add_channel(
        self,
        name: str,
        *,
        channel_id: str | None = None,
        is_private: bool = False,
        bot_member: bool = True,
    ) -> Channel:
        """Add a channel (id defaults to `C0<NAME>`), public with the bot in it by default."""
        with self._lock:
            return self._ws.add_channel(
                name, channel_id=channel_id, is_private=is_private, bot_member=bot_member
            )

    def set_bot_member(self, channel: str, member: bool) -> Channel:
        """Invite the bot to a channel or remove it (posts there then fail as Slack's do)."""
        with self._lock:
            return self._ws.set_bot_member(channel, member)

    def add_usergroup(
        self, handle: str, users: list[str], *, usergroup_id: str | None = None
    ) -> UserGroup:
        """Add a user group of the given user ids or names."""
        with self._lock:
            return self._ws.add_usergroup(handle, users, usergroup_id)

    def set_usergroup_users(self, handle: str, users: list[str]) -> UserGroup:
        """Replace the members of a user group."""
        with self._lock:
            group = self._ws.find_usergroup(handle)
            if group is None:
                raise KeyError(f"no user group {handle!r}")
            return self._ws.add_usergroup(group.handle, users, group.id)

    def set_tz(self, user: str, tz: str) -> User:
        """Move a user to an IANA time zone."""
        with self._lock:
            return self._ws.replace_user(user, tz=tz)

    def deactivate_user(self, user: str) -> User:
        """Mark a user deactivated (`deleted: true`); sending `user_change` is the caller's job."""
        with self._lock:
            return self._ws.replace_user(user, deleted=True)

    # -- test controls ---------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 2,
        error: str | None = None,
        count: int = 1,
    ) -> None:
        """Make the next `count` calls to `method` fail (429 + Retry-After, 5xx, or a 200 error)."""
        if error is None:
            error = {429: "ratelimited", 200: "internal_error"}.get(status, "fatal_error")
        failure = Failure(status, error, retry_after if status == 429 else None, count)
        with self._lock:
            self._failures.setdefault(method, []).append(failure)

    def drop_next(self, method: str, *, after: bool, count: int = 1) -> None:
        """Close the connection of the next `count` calls without an answer, after doing the
        call (`after`: Slack accepted it, the answer was lost) or before."""
        with self._lock:
            failure = Failure(DROPPED, "dropped", None, count, after=after)
            self._failures.setdefault(method, []).append(failure)

    def inject_faults(self, profile: FaultProfile | None) -> None:
        """Fail calls at random from now on (None stops); queued failures still come first."""
        with self._lock:
            self._faults = profile

    def set_rate_limits(self, limits: RateLimits | None) -> None:
        """Limit chat.postMessage as Slack does (None: no limit), timed by the injected clock
        when there is one, else by the monotonic clock; a new limiter starts with full buckets."""
        with self._lock:
            if limits is None:
                self.limiter = None
                return
            clock = self._clock_now
            if clock is None:
                self.limiter = Limiter(limits)
            else:
                self.limiter = Limiter(limits, lambda: clock().timestamp())

    def set_scopes(self, scopes: frozenset[str]) -> None:
        """Grant the token these scopes (a call needing another answers `missing_scope`)."""
        with self._lock:
            self.scopes = scopes

    @property
    def calls(self) -> list[Call]:
        """A snapshot of every call so far, in order."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """The calls to one method (`chat.update`, or `response_url`)."""
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def clear_calls(self) -> None:
        """Forget the recorded calls (state and deliveries stay)."""
        with self._lock:
            self._calls.clear()

    def new_trigger_id(self, user: str | None = None) -> str:
        """A single-use trigger_id for views.open; the modal is shown to `user`."""
        with self._lock:
            uid = self._ws.require_user(user).id if user is not None else None
            return self._api.new_trigger_id(uid)

    def new_response_url(self, channel: str, user: str, message_ts: str | None = None) -> str:
        """A response_url for an interaction by `user` in `channel` (on message `message_ts`)."""
        with self._lock:
            uid = self._ws.require_user(user).id
            try:
                token = self._api.new_response_url_token(channel, uid, message_ts)
            except ApiError as exc:
                raise KeyError(f"no conversation {channel!r}") from exc
        return f"{self.url}/response/{token}"

    def show_ack_body(self, channel: str, user: str, body: str) -> bool:
        """Show a slash command's ack body as Slack does: an empty body shows nothing, JSON with
        `response_type: in_channel` is posted, any other answer is an ephemeral to `user`.

        Returns:
            Whether something was shown.
        """
        text = body.strip()
        if not text:
            return False
        try:
            answer = json.loads(text)
        except json.JSONDecodeError:
            answer = {"text": text}
        if not isinstance(answer, dict):
            return False
        with self._lock:
            cid = self._api.target(channel)
            uid = self._ws.require_user(user).id
            shown_text, blocks = str(answer.get("text") or ""), answer.get("blocks") or []
            if answer.get("response_type") == "in_channel":
                self._store.post(cid, shown_text, blocks, None)
            else:
                self._store.post_ephemeral(cid, uid, shown_text, blocks, None)
        return True

    # -- request handling (called from server threads) ---------------------------------------

    def handle_api(
        self, method: str, params: Params, token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers: dict[str, str] = {}
        params = _decode_json_fields(params)
        with self._lock:
            status, body = self._dispatch(method, params, token, headers)
            self._calls.append(Call(method, params, status, body.get("error")))
        if not body.get("ok"):
            logger.debug("fake Slack %s -> %s %s", method, status, body.get("error"))
        return status, body, headers

    def _dispatch(
        self, method: str, params: Params, token: str | None, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        if token is None:
            return 200, {"ok": False, "error": "not_authed"}
        if token != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}
        provided = ",".join(sorted(self.scopes))
        headers["X-OAuth-Scopes"] = provided
        missing = [sc for sc in needed_scopes(method, params) if sc not in self.scopes]
        if missing:
            needed = ",".join(missing)
            return 200, {
                "ok": False,
                "error": "missing_scope",
                "needed": needed,
                "provided": provided,
            }
        retry_after = self._rate_limited(method, params)
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
            return 429, {"ok": False, "error": "ratelimited"}
        failure = self._take_failure(method)
        if failure is not None and not failure.after:
            if failure.retry_after is not None:
                headers["Retry-After"] = str(failure.retry_after)
            return failure.status, {"ok": False, "error": failure.error}
        try:
            result = self._api.call(method, params)
        except ApiError as exc:
            body: dict[str, Any] = {"ok": False, "error": exc.error}
            if exc.messages:
                body["response_metadata"] = {"messages": exc.messages}
            return 200, body
        if failure is not None:  # done, but the answer is lost
            return DROPPED, {"ok": False, "error": failure.error}
        return 200, {"ok": True, **result}

    def _rate_limited(self, method: str, params: Params) -> int | None:
        """The Retry-After seconds when the limiter refuses this chat.postMessage, else None."""
        if self.limiter is None or method != "chat.postMessage":
            return None
        try:
            conversation = self._api.target(str(params.get("channel") or ""))
        except ApiError:
            return None  # the call answers channel_not_found itself
        return self.limiter.take(conversation)

    def _take_failure(self, method: str) -> Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return self._faults.pick(method) if self._faults is not None else None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.pop(0)
        return failure

    def handle_response_url(self, token: str, body: Params) -> tuple[int, str, dict[str, str]]:
        headers: dict[str, str] = {}
        with self._lock:
            failure = self._take_failure("response_url")
            if failure is not None and not failure.after:
                if failure.retry_after is not None:
                    headers["Retry-After"] = str(failure.retry_after)
                status, text = failure.status, failure.error
            else:
                status, text = self._api.respond(token, body)
                if failure is not None:
                    status, text = DROPPED, failure.error
            self._calls.append(Call("response_url", body, status, None if status == 200 else text))
        return status, text, headers


def _decode_json_fields(params: Params) -> Params:
    """Form-encoded calls carry blocks/view/attachments as JSON strings; record them decoded."""
    out = dict(params)
    for key in ("blocks", "view", "attachments", "metadata"):
        value = out.get(key)
        if isinstance(value, str):
            # an undecodable string stays, so the method answers invalid_blocks_format
            with contextlib.suppress(json.JSONDecodeError):
                out[key] = json.loads(value)
    return out
