"""`ViewOpener` on the Slack Web API (views.open), turning Slack's refusals into user errors."""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import UserError


class SlackViews:
    """Opens modals with the bot's WebClient."""

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def open_view(self, trigger_id: str, view: dict[str, object]) -> None:
        try:
            self._client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown")
            raise UserError(
                f"the form could not open (Slack says {error}); run the command "
                "again, or give every argument on the command line"
            ) from exc

    def publish_home(self, user_id: str, view: dict[str, object]) -> None:
        self._client.views_publish(user_id=user_id, view=view)
