"""The fake Slack's Web API methods: argument checks, Slack's error codes, effects on the store."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.demo.fake_slack_blocks import validate_message_blocks, validate_view
from bot.demo.fake_slack_history import HistoryMethods
from bot.demo.fake_slack_params import ApiError as ApiError
from bot.demo.fake_slack_params import Params as Params
from bot.demo.fake_slack_params import Result, flag, json_arg, required
from bot.demo.fake_slack_store import ResponseUrl, Store
from bot.demo.fake_slack_workspace import (
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_DOMAIN,
    TEAM_ID,
    TEAM_NAME,
    User,
    Workspace,
)

MAX_TEXT = 40_000
MAX_RESPONSE_URL_USES = 5
RESPONSE_URL_LIFETIME = timedelta(minutes=30)


class SlackApi:
    """Method implementations; not thread-safe (FakeSlack calls them under its lock)."""

    def __init__(self, workspace: Workspace, store: Store) -> None:
        self.ws = workspace
        self.store = store
        self.triggers: dict[str, str | None] = {}
        self.used_triggers: set[str] = set()
        self.response_urls: dict[str, ResponseUrl] = {}
        self.open_dms: set[str] = set()
        history = HistoryMethods(workspace, store)
        self._methods: dict[str, Callable[[Params], Result]] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "conversations.open": self.conversations_open,
            "conversations.history": history.history,
            "conversations.replies": history.replies,
            "conversations.list": history.list,
            "views.open": self.views_open,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "users.info": self.users_info,
            "users.lookupByEmail": self.users_lookup_by_email,
            "usergroups.list": self.usergroups_list,
            "usergroups.users.list": self.usergroups_users_list,
        }

    def call(self, method: str, params: Params) -> Result:
        """Run one method; raise ApiError for a Slack error answer."""
        handler = self._methods.get(method)
        if handler is None:
            raise ApiError("unknown_method")
        return handler(params)

    def new_trigger_id(self, user_id: str | None) -> str:
        """A single-use trigger_id, as Slack puts in interaction payloads."""
        # Unique per fake by its counter, yet deterministic: the dedupe keys the bot stores for
        # commands and submissions (`command:<trigger_id>`) then compare equal across replays
        # of the same tour (the jump-parity tests compare every row).
        n = len(self.triggers) + 1000001
        tail = hashlib.sha256(f"{n}:{user_id}".encode()).hexdigest()[:32]
        trigger = f"{n}.8675309.{tail}"
        self.triggers[trigger] = user_id
        return trigger

    # -- argument helpers ------------------------------------------------------------------

    def target(self, ref: str) -> str:
        """The conversation id for a channel id or name, a DM id, or a user id."""
        return self._target(ref)

    def _target(self, ref: str) -> str:
        """Resolve a channel id, `#name`, app DM id, or user id (a DM) to a conversation id."""
        channel = self.ws.find_channel(ref) if ref.startswith(("C", "#")) else None
        if channel is not None:
            return channel.id
        user = self.ws.dm_user(ref) if ref.startswith("D") else None
        if user is None and ref.startswith("U"):
            user = self.ws.users.get(ref)
            if user is not None and user.is_bot:
                raise ApiError("cannot_dm_bot")
        if user is None:
            raise ApiError("channel_not_found")
        if user.deleted:
            raise ApiError("is_archived")
        return user.dm_channel_id

    def _content(
        self, params: Params, *, required: bool
    ) -> tuple[str | None, list[dict[str, Any]] | None]:
        text = params.get("text")
        blocks = json_arg(params, "blocks", "invalid_blocks_format")
        if text is not None and not isinstance(text, str):
            raise ApiError("invalid_arguments", ["[ERROR] text must be a string"])
        if required and not text and not blocks and not params.get("attachments"):
            raise ApiError("no_text")
        if text is not None and len(text) > MAX_TEXT:
            raise ApiError("msg_too_long")
        if blocks is not None:
            errors = validate_message_blocks(blocks)
            if errors:
                raise ApiError("invalid_blocks", errors)
        return text, blocks

    def _view(self, params: Params, expected_type: str) -> dict[str, Any]:
        view = json_arg(params, "view", "invalid_arguments")
        if view is None:
            raise ApiError("invalid_arguments", ["[ERROR] missing required field: view"])
        errors = validate_view(view, expected_type=expected_type)
        if errors or not isinstance(view, dict):
            raise ApiError("invalid_arguments", errors)
        return view

    def _live_user(self, ref: str, error: str) -> User:
        user = self.ws.users.get(ref)
        if user is None or user.is_bot:
            raise ApiError(error)
        return user

    # -- methods ---------------------------------------------------------------------------

    def auth_test(self, params: Params) -> Result:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": TEAM_NAME,
            "user": BOT_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def chat_post_message(self, params: Params) -> Result:
        channel = self._target(required(params, "channel"))
        joined = self.ws.channels.get(channel)
        error = joined.post_error() if joined is not None else None
        if error is not None:
            raise ApiError(error)
        text, blocks = self._content(params, required=True)
        thread_ts = params.get("thread_ts") or None
        if thread_ts is not None:
            thread_ts = self.store.top_level_parent(channel, str(thread_ts))
            if thread_ts is None:
                raise ApiError("thread_not_found")
        msg = self.store.post(channel, text or "", blocks or [], thread_ts, _metadata(params))
        return {"channel": channel, "ts": msg.ts, "message": msg.to_api(with_metadata=True)}

    def chat_update(self, params: Params) -> Result:
        ref = required(params, "channel")
        ts = required(params, "ts")
        channel = self.ws.find_channel(ref)
        cid = channel.id if channel is not None else ref
        msg = self.store.messages.get((cid, ts))
        if msg is None or msg.ephemeral_to is not None:
            if channel is None and self.ws.dm_user(ref) is None:
                raise ApiError("channel_not_found")
            raise ApiError("message_not_found")
        text, blocks = self._content(params, required=False)
        if text is None and blocks is None and params.get("attachments") is None:
            raise ApiError("no_text")
        updated = self.store.update(cid, ts, text, blocks)
        return {"channel": cid, "ts": ts, "text": updated.text, "message": updated.to_api()}

    def chat_post_ephemeral(self, params: Params) -> Result:
        ref = required(params, "channel")
        user = self.ws.users.get(required(params, "user"))
        channel = self._target(ref)
        if user is None or user.is_bot:
            raise ApiError("user_not_found")
        if user.deleted or (self.ws.dm_user(channel) not in (None, user)):
            raise ApiError("user_not_in_channel")
        text, blocks = self._content(params, required=True)
        thread_ts = params.get("thread_ts") or None
        msg = self.store.post_ephemeral(
            channel, user.id, text or "", blocks or [], str(thread_ts) if thread_ts else None
        )
        return {"message_ts": msg.ts}

    def conversations_open(self, params: Params) -> Result:
        if params.get("channel"):
            user = self.ws.dm_user(str(params["channel"]))
            if user is None:
                raise ApiError("channel_not_found")
        else:
            users = [u for u in str(params.get("users") or "").split(",") if u]
            if not users:
                raise ApiError("users_list_not_supplied")
            if len(users) > 1:
                raise ApiError("invalid_arguments", ["[ERROR] the fake supports 1:1 DMs only"])
            user = self._live_user(users[0], "user_not_found")
        if user.deleted:
            raise ApiError("user_disabled")
        already = user.dm_channel_id in self.open_dms
        self.open_dms.add(user.dm_channel_id)
        return {
            "channel": {"id": user.dm_channel_id, "is_im": True, "user": user.id},
            "no_op": already,
            "already_open": already,
        }

    def views_open(self, params: Params) -> Result:
        trigger = required(params, "trigger_id")
        if trigger in self.used_triggers:
            raise ApiError("expired_trigger_id")
        if trigger not in self.triggers:
            raise ApiError("invalid_trigger_id")
        view = self._view(params, "modal")
        self.used_triggers.add(trigger)
        stored = self.store.open_view(self.triggers[trigger], view)
        return {"view": stored.to_api()}

    def views_update(self, params: Params) -> Result:
        view_id = params.get("view_id")
        external_id = params.get("external_id")
        if not view_id and not external_id:
            raise ApiError("invalid_arguments", ["[ERROR] view_id or external_id is required"])
        current = next(
            (
                v
                for v in self.store.views.values()
                if v.id == view_id or (external_id and v.view.get("external_id") == external_id)
            ),
            None,
        )
        if current is None:
            raise ApiError("not_found")
        if params.get("hash") and params["hash"] != current.hash:
            raise ApiError("hash_conflict")
        view = self._view(params, current.type)
        return {"view": self.store.update_view(current.id, view).to_api()}

    def views_publish(self, params: Params) -> Result:
        user = self._live_user(required(params, "user_id"), "user_not_found")
        view = self._view(params, "home")
        current_id = self.store.homes.get(user.id)
        given = params.get("hash") or None
        current_hash = self.store.views[current_id].hash if current_id is not None else None
        if given is not None and current_hash is not None and given != current_hash:
            raise ApiError("hash_conflict")
        return {"view": self.store.publish_home(user.id, view).to_api()}

    def users_info(self, params: Params) -> Result:
        user = self.ws.users.get(required(params, "user"))
        if user is None:
            raise ApiError("user_not_found")
        return {"user": user.to_api(self.store.now())}

    def users_lookup_by_email(self, params: Params) -> Result:
        user = self.ws.user_by_email(required(params, "email"))
        if user is None or user.deleted:
            raise ApiError("users_not_found")
        return {"user": user.to_api(self.store.now())}

    def usergroups_list(self, params: Params) -> Result:
        include_users = flag(params, "include_users")
        return {
            "usergroups": [
                g.to_api(include_users=include_users) for g in self.ws.usergroups.values()
            ]
        }

    def usergroups_users_list(self, params: Params) -> Result:
        group = self.ws.usergroups.get(required(params, "usergroup"))
        if group is None:
            raise ApiError("no_such_subteam")
        include_disabled = flag(params, "include_disabled")
        users = [u for u in group.users if include_disabled or not self.ws.users[u].deleted]
        return {"users": users}

    # -- response_url ----------------------------------------------------------------------

    def new_response_url_token(self, channel: str, user: str, message_ts: str | None) -> str:
        """Register a response_url for an interaction in `channel` by `user`."""
        token = secrets.token_urlsafe(18)
        self.response_urls[token] = ResponseUrl(
            self._target(channel), user, message_ts, self.store.now()
        )
        return token

    def respond(self, token: str, body: Params) -> tuple[int, str]:
        """Apply a post to a response_url; returns (HTTP status, body) as Slack's hooks do."""
        hook = self.response_urls.get(token)
        if hook is None:
            return 404, "no_active_hooks"
        if self.store.now() - hook.created_at > RESPONSE_URL_LIFETIME:
            return 404, "expired_url"
        if hook.uses >= MAX_RESPONSE_URL_USES:
            return 404, "used_url"
        hook.uses += 1
        source = hook.message_ts
        if body.get("delete_original") in (True, "true"):
            if source is None or (hook.channel, source) not in self.store.messages:
                return 404, "message_not_found"
            self.store.delete(hook.channel, source)
            return 200, "ok"
        try:
            text, blocks = self._content(body, required=True)
        except ApiError as exc:
            return 400, exc.error
        if body.get("replace_original") in (True, "true") and source is not None:
            if (hook.channel, source) not in self.store.messages:
                return 404, "message_not_found"
            self.store.update(hook.channel, source, text or "", blocks or [])
        elif body.get("response_type") == "in_channel":
            thread_ts = body.get("thread_ts")
            self.store.post(hook.channel, text or "", blocks or [], thread_ts or None)
        else:
            self.store.post_ephemeral(
                hook.channel, hook.user, text or "", blocks or [], body.get("thread_ts") or None
            )
        return 200, "ok"


def _metadata(params: Params) -> dict[str, Any] | None:
    """chat.postMessage's `metadata`: an object with a string `event_type` and an object
    `event_payload`, as Slack checks it."""
    value = json_arg(params, "metadata", "invalid_metadata_format")
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("event_type"), str)
        or not isinstance(value.get("event_payload"), dict)
    ):
        raise ApiError("invalid_metadata_schema")
    return value
