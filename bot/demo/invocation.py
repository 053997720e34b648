"""The demo world's fake Slack, which also mints what Slack mints for each slash command."""

from __future__ import annotations

import time
from typing import Any

from bot.demo.buttons import click_payload, find_button
from bot.demo.fake_slack import FakeSlack
from bot.demo.fake_slack_api import Params
from bot.demo.fake_slack_workspace import TEAM_ID, USER_IDS

INVOCATION = "envbot.demo.invocation"  # a method only the fake has: see WorldSlack


class WorldSlack(FakeSlack):
    """The fake Slack plus one method Slack itself does not have: `envbot.demo.invocation`.

    Slack mints a `trigger_id` and a `response_url` for every slash command it sends; the fake
    mints them on request, so a separate `envbot demo send` process can build a real request.
    With `ack_body`, it shows a slash command's ack body to the user as Slack would (the sender
    got it as the HTTP answer). With `click`, it finds the newest button of that label the user
    sees (on a message that mentions `ref`) and answers the `block_actions` payload Slack would
    send for the click.
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
        if "ack_body" in params:  # what Slack shows of a slash command's answer in its ack
            shown = self.show_ack_body(channel, user.id, str(params["ack_body"]))
            return 200, {"ok": True, "shown": shown}, {}
        if params.get("click"):
            return 200, self._click(user.id, str(params["click"]), str(params.get("ref") or "")), {}
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

    def _click(self, user: str, label: str, ref: str) -> dict[str, Any]:
        found = find_button(self, user, label, ref)
        if found is None:
            where = f' on a message mentioning "{ref}"' if ref else ""
            detail = f'no button "{label}"{where} visible to @{self.user(user).name}'
            return {"ok": False, "error": "no_button", "detail": detail}
        action_ts = f"{time.time():.6f}"  # unique per click, as Slack's
        return {"ok": True, "payload": click_payload(self, user, found, action_ts, TEAM_ID)}
