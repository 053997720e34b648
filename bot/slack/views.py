"""`ViewOpener` on the Slack Web API (views.open), turning Slack's refusals into user errors."""

from __future__ import annotations

import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import TemporaryError, UserError
from bot.slack.transient import call_quickly


class SlackViews:
    """Opens modals with the bot's WebClient."""

    def __init__(self, client: WebClient, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self._sleep = sleep

    def open_view(self, trigger_id: str, view: dict[str, object]) -> None:
        """Open the modal now, in the listener: a trigger_id lives 3 s and is single use, so a
        5xx or timeout is retried once quickly, then the user is asked to run it again."""
        try:
            call_quickly(
                lambda: self._client.views_open(trigger_id=trigger_id, view=view),
                "views.open",
                self._sleep,
            )
        except TemporaryError as exc:
            raise UserError(
                "Slack did not open the form in time; run the command again in a minute"
            ) from exc
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown")
            raise UserError(
                f"the form could not open (Slack says {error}); run the command "
                "again, or give every argument on the command line"
            ) from exc

    def publish_home(self, user_id: str, view: dict[str, object]) -> None:
        self._client.views_publish(user_id=user_id, view=view)
