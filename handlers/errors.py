"""The one `app.error` handler: user errors become ephemeral answers, the rest get a ref id."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.context.respond import Respond

from bot.errors import TemporaryError, UserError
from bot.services.container import Services


def register(app: App, services: Services) -> None:
    """Register the error handler."""

    @app.error
    def on_error(
        error: Exception, body: dict[str, Any], respond: Respond | None, logger: logging.Logger
    ) -> BoltResponse | None:
        if isinstance(error, UserError):
            text = str(error)
        elif isinstance(error, TemporaryError):
            text = f"{error} Please try again in a minute."
        else:
            ref = secrets.token_hex(4)
            logger.error(
                "unhandled error (ref %s)",
                ref,
                exc_info=error,
                extra={"ref": ref, "slack_user": _user(body)},
            )
            text = f"Something went wrong (ref {ref}). Tell your platform team this reference."
        if respond is not None and _has_response_url(body):
            respond(text=text, response_type="ephemeral", replace_original=False)
        # The user has been told; a 500 would make Slack show its own error on top.
        return BoltResponse(status=200, body="")


def _has_response_url(body: dict[str, Any]) -> bool:
    return bool(body.get("response_url") or body.get("response_urls"))


def _user(body: dict[str, Any]) -> str:
    user = body.get("user_id") or body.get("user", {})
    return user if isinstance(user, str) else str(user.get("id", ""))
