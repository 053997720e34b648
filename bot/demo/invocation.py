"""The demo world's fake Slack, which also mints what Slack mints for each slash command."""

from __future__ import annotations

from typing import Any

from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_api import Params
from bot.demo.fake_slack_workspace import USER_IDS

INVOCATION = "envbot.demo.invocation"  # a method only the fake has: see WorldSlack


class WorldSlack(FakeSlack):
    """The fake Slack plus one method Slack itself does not have: `envbot.demo.invocation`.

    Slack mints a `trigger_id` and a `response_url` for every slash command it sends; the fake
    mints them on request, so a separate `envbot demo send` process can build a real request.
    """

    def handle_api(
        self, method: str, params: Params, token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if method != INVOCATION:
            return super().handle_api(method, params, token)
        if token != self.token:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        try:
            user = self.user(str(params.get("user") or "alice"))
            channel = self.channel_id(str(params.get("channel") or "platform"))
        except KeyError as exc:
            return 200, {"ok": False, "error": "not_found", "detail": str(exc)}, {}
        return (
            200,
            {
                "ok": True,
                "user_id": user.id,
                "user_name": user.name,
                "channel_id": channel,
                "channel_name": self.conversation_name(channel).lstrip("#"),
                "trigger_id": self.new_trigger_id(user.id),
                "response_url": self.new_response_url(channel, user.id),
                "users": {name: self.user_id(name) for name in USER_IDS},
            },
            {},
        )
