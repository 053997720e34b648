"""The bot token scopes envbot calls Slack with (manifest.yaml's `oauth_config.scopes.bot`),
what stops working without each, and which ones a token has: Slack names them in the
`x-oauth-scopes` header of every Web API answer (comma-separated; auth.test needs no scope)."""

from __future__ import annotations

from collections.abc import Mapping

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.errors import PermanentError

_HISTORY = (
    "crash-safe posting: after a crash between Slack's accept and the commit, a resumed post "
    "cannot be looked up in the history and parks instead of being sent"
)
_CHANNELS = (
    "the card fallback: envbot cannot tell whether it is in a channel, so /env create says "
    "the card is there when it will come as a DM; and crash-safe posting cannot turn `#name` "
    "channels into the ids the history takes"
)

#: Every bot scope envbot uses, and what breaks without it (a unit test keeps it equal to
#: manifest.yaml).
SCOPE_USES: dict[str, str] = {
    "commands": "the /env and /access slash commands",
    "chat:write": "every card, thread reply, card update and ephemeral answer",
    "im:write": "DMs: kubectl instructions, reminders, approval and offboarding notes",
    "users:read": (
        "users.info: owners' time zones (quiet hours), approvers' names and the heir of an "
        "offboarded user's environments; the user_change event (offboarding)"
    ),
    "users:read.email": (
        "users.lookupByEmail (owners written as emails in the policy) and the profile email "
        "that is each user's OIDC username"
    ),
    "usergroups:read": "owners and `allowed` written as @user-group handles in the policy",
    "channels:read": _CHANNELS + " (public channels)",
    "groups:read": _CHANNELS + " (private channels)",
    "channels:history": _HISTORY + " (public channels)",
    "groups:history": _HISTORY + " (private channels)",
    "im:history": _HISTORY + " (DMs)",
}

SCOPES_HEADER = "x-oauth-scopes"


def scopes_in(headers: Mapping[str, str | list[str]]) -> frozenset[str] | None:
    """The scopes an answer's `x-oauth-scopes` header names (any letter case), or None when
    the answer has no such header."""
    for key, value in headers.items():
        if key.lower() == SCOPES_HEADER:
            text = ",".join(value) if isinstance(value, list) else value
            return frozenset(s.strip() for s in text.split(",") if s.strip())
    return None


def granted_scopes(client: WebClient) -> frozenset[str] | None:
    """The scopes of the client's token, from auth.test's headers (None if Slack sent none).

    Raises:
        PermanentError: Slack refused the token; the message is Slack's error code.
    """
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        raise PermanentError(str(exc.response.get("error"))) from exc
    return scopes_in(answer.headers)


def missing_scopes(granted: frozenset[str]) -> dict[str, str]:
    """The scopes envbot uses that `granted` lacks, each with what breaks without it."""
    return {scope: use for scope, use in SCOPE_USES.items() if scope not in granted}
