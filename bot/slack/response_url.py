"""Private answers through an interaction's `response_url`: Slack's limits and the one POST.

A response_url takes at most 5 posts within 30 minutes of the interaction; after that, or when
Slack answers that the hook is gone (404 `expired_url`, `used_url`), the drain falls back to
chat.postEphemeral, then to a DM. The URL is a credential: nothing here logs it.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

MAX_USES = 5
LIFETIME = timedelta(minutes=30)
#: The drain stops a little early: the row is queued a moment after Slack sent the interaction.
USABLE_FOR = LIFETIME - timedelta(seconds=30)
TIMEOUT = 10.0
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
#: chat.postEphemeral errors after which only a DM reaches the user.
EPHEMERAL_UNREACHABLE = frozenset({"channel_not_found", "not_in_channel", "user_not_in_channel"})


class BadResponseUrl(ValueError):
    """Not an https URL (http only on loopback, for the fake Slack)."""


def post_response(
    url: str, message: Mapping[str, Any], timeout: float = TIMEOUT
) -> tuple[int, str]:
    """POST `message` as a new ephemeral answer, or in place of the pressed message when it says
    `replace_original` (a one-shot DM or confirmation after its button acted).

    Returns:
        Slack's HTTP status and body text (`ok`, or an error such as `used_url`).

    Raises:
        BadResponseUrl: the URL is not one Slack would give.
        OSError: no answer (refused, reset, timed out); the post may or may not have landed.
    """
    parts = urlsplit(url)
    if not (parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK)):
        raise BadResponseUrl("response_url is not an https URL")
    body = {"response_type": "ephemeral", "replace_original": False, **message}
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return int(resp.status), resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")


def spent(url: str) -> str:
    """What a row keeps of a response_url once it has been used: a digest, enough to count the
    hook's uses, useless as a credential."""
    return "sha256:" + hashlib.sha256(url.encode()).hexdigest()


def temporary(status: int) -> bool:
    """Whether a response_url answer is worth another use (rate limit, Slack's own fault)."""
    return status == 429 or status >= 500
