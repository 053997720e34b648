"""The Slack Web API client: built here, so nothing outside `bot/slack/` (and the listeners in
`handlers/`) imports slack_sdk's client or its errors."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import PermanentError

__all__ = ["BotIdentity", "WebClient", "make_client", "whoami"]


def make_client(token: str, base_url: str) -> WebClient:
    """The bot's Web API client for `token`, at `base_url` (Slack's, or a stand-in's)."""
    return WebClient(token=token, base_url=base_url)


@dataclass(frozen=True)
class BotIdentity:
    """Who the token signs in as (auth.test)."""

    user: str
    team: str
    team_id: str = ""
    enterprise_id: str = ""


def whoami(client: WebClient) -> BotIdentity:
    """Ask Slack who the token is.

    Raises:
        PermanentError: Slack refused the token; the message is Slack's error code.
    """
    try:
        who = client.auth_test()
    except SlackApiError as exc:
        raise PermanentError(str(exc.response.get("error"))) from exc
    return BotIdentity(
        user=str(who.get("user")),
        team=str(who.get("team")),
        team_id=str(who.get("team_id") or ""),
        enterprise_id=str(who.get("enterprise_id") or ""),
    )
