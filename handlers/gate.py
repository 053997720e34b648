"""The checks every Slack request passes once it is parsed, whichever transport brought it:
the body's shape (`handlers.shape`) and the workspace. The signed-HTTP edge (`handlers.edge`)
and Socket Mode (`handlers.socket_mode`) both go through `admit`, and both build Bolt's
request through `bolt_request`, so a garbled body is one refusal on either, never a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt.context import BoltContext
from slack_bolt.error import BoltError
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context

from bot.services.inbound import delivery_key
from handlers.shape import problem

# Slack's largest bodies are modal submissions (100 blocks of up to 3000 characters, then
# URL-encoded JSON): well under 1 MiB. 4 MiB leaves room and still bounds what one request costs.
MAX_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class EdgeRules:
    """What the edge enforces.

    Attributes:
        signing_secret: the app's signing secret (every HTTP request is HMAC-checked with it).
        team_id: the installed workspace; requests from any other team are refused (403).
        enterprise_id: the installed Enterprise Grid org, checked when a request carries one.
        max_body: bytes; a longer body is refused with 413 before it is read in full.
    """

    signing_secret: str
    team_id: str | None = None
    enterprise_id: str | None = None
    max_body: int = MAX_BODY


class Refused(Exception):
    """A request the edge answers itself: an HTTP status and the reason for the log line."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def bolt_request(
    body: str | dict[str, Any],
    *,
    mode: str = "http",
    query: str = "",
    headers: Mapping[str, str | Sequence[str]] | None = None,
) -> BoltRequest:
    """Bolt's request for `body` (the raw text over HTTP, the envelope's payload over Socket
    Mode); a body Bolt cannot read is `Refused` 400.

    Bolt parses the body and extracts its context (team, user, channel…) here, assuming Slack's
    shapes: a JSON array, a bad `payload=` field, deep nesting or a `team` that is a number
    raises one of these. This is the one place such a body becomes a refusal, not a traceback.
    """
    try:
        return BoltRequest(body=body, query=query, headers=dict(headers or {}), mode=mode)
    except (ValueError, RecursionError, AttributeError, TypeError, KeyError, IndexError, BoltError):
        raise Refused(400, "the body is not a Slack request") from None


def admit(request: BoltRequest, rules: EdgeRules) -> None:
    """Refuse (400/403) a parsed request Slack would not send, or one from another workspace.

    Raises:
        Refused: the body's shape is wrong, or its team or enterprise is not the installed one.
    """
    _unmask_payload_word(request)
    why = problem(request.body)
    if why:
        raise Refused(400, why)
    _check_workspace(request, rules)


def label(request: BoltRequest) -> BoltRequest:
    """Name, on an admitted request, what its listener needs: when it arrived (a listener that
    answers in the ack counts its 3 s from here) and its dedupe key (`delivery_key`), which the
    listener records with the request's inbox row, in one transaction, so no ack goes out for a
    request that is not recorded. Done here rather than in Bolt middleware, which costs each
    request a round of Bolt's argument injection."""
    request.context["received_at"] = time.monotonic()
    key = delivery_key(request.body)
    if key is not None:
        request.context["delivery_key"] = key
    return request


def _unmask_payload_word(request: BoltRequest) -> None:
    """Bolt reads any form body whose text contains "payload" as an interaction, so a slash
    command saying "payload" (`/access request … debug the payload parser`) parses to nothing.
    Such a form has no `payload` field: give Bolt its fields (the signed raw body is kept)."""
    text = request.raw_body
    if request.body or not text or request.content_type == "application/json":
        return
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if fields and "payload" not in fields:
        request.body = fields
        request.context = build_context(BoltContext({}), fields)


def _check_workspace(request: BoltRequest, rules: EdgeRules) -> None:
    """A request signed with our secret (or sent over our app's socket) but from another
    workspace is still not for us."""
    team = request.context.team_id
    enterprise = request.context.enterprise_id
    if rules.team_id and team != rules.team_id:
        raise Refused(403, f"team {str(team)[:20]!r} is not the installed workspace")
    if rules.enterprise_id and enterprise and enterprise != rules.enterprise_id:
        raise Refused(403, f"enterprise {str(enterprise)[:20]!r} is not the installed org")
