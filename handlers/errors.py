"""The one `app.error` handler: user errors become private answers, the rest get a ref id.

A slash command not yet acked gets its answer in the ack body; anything else goes through the
outbox to the interaction's response_url (`answers.queue_answer`), or straight to it when the
database cannot take the row.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.context.respond import Respond
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import TemporaryError, UserError
from bot.services.container import Services
from handlers.answers import queue_answer


def register(app: App, services: Services) -> None:
    """Register the error handler."""

    @app.error
    def on_error(
        error: Exception,
        body: dict[str, Any],
        respond: Respond | None,
        response: BoltResponse | None,
        logger: logging.Logger,
    ) -> BoltResponse | None:
        text = explain(error, body, logger)
        if response is not None and body.get("command"):
            return ack_body(text)
        _answer(services, body, text, respond, logger)
        # The user has been told; a 500 would make Slack show its own error on top.
        return BoltResponse(status=200, body="") if response is not None else None


def ack_body(text: str) -> BoltResponse:
    """A slash command's ack that answers it: Slack shows the body to its user only."""
    answer = json.dumps({"response_type": "ephemeral", "text": text})
    return BoltResponse(status=200, body=answer, headers={"content-type": "application/json"})


def explain(error: Exception, body: dict[str, Any], logger: logging.Logger) -> str:
    """What the user reads about `error`; a real bug is logged under a ref id they can quote."""
    if isinstance(error, UserError):
        return str(error)
    if isinstance(error, TemporaryError):
        return f"{error} Please try again in a minute."
    ref = secrets.token_hex(4)
    logger.error(
        "unhandled error (ref %s)",
        ref,
        exc_info=error,
        extra={"ref": ref, "slack_user": _user(body)},
    )
    return f"Something went wrong (ref {ref}). Tell your platform team this reference."


def _answer(
    services: Services,
    body: dict[str, Any],
    text: str,
    respond: Respond | None,
    logger: logging.Logger,
) -> None:
    target = _with_response_url(body)
    if target is None:
        return
    try:
        queue_answer(services, target, {"text": text}, "error")
    except SQLAlchemyError:  # the database may be what failed: answer directly, once
        logger.warning("could not queue the answer; answering through response_url directly")
        if respond is not None:
            respond(text=text, response_type="ephemeral", replace_original=False)


def _with_response_url(body: dict[str, Any]) -> dict[str, Any] | None:
    """The payload, with a modal's first `response_urls` entry as its response_url; None when
    there is nowhere to answer."""
    if body.get("response_url"):
        return body
    urls = body.get("response_urls")
    if isinstance(urls, list) and urls and isinstance(urls[0], dict):
        first = urls[0]
        return {
            **body,
            "response_url": first.get("response_url"),
            "channel_id": first.get("channel_id"),
        }
    return None


def _user(body: dict[str, Any]) -> str:
    user = body.get("user_id") or body.get("user")
    if isinstance(user, dict):
        user = user.get("id")
    return user if isinstance(user, str) else ""
