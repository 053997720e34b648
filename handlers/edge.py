"""The signed-HTTP edge in front of Bolt: size, then signature and timestamp, then parsing, then
shape and workspace; only a request that passes all of them is dispatched to the listeners.

The order matters. Nothing is parsed before the signature is checked, so a forged body costs
one HMAC and never reaches a JSON parser; and every refusal is one log line and a 4xx, so
hostile traffic can neither crash a worker nor fill the log with tracebacks.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import App, BoltResponse
from slack_bolt.context import BoltContext
from slack_bolt.error import BoltError
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context

from handlers.shape import problem

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# Slack's largest bodies are modal submissions (100 blocks of up to 3000 characters, then
# URL-encoded JSON): well under 1 MiB. 4 MiB leaves room and still bounds what one request costs.
MAX_BODY = 4 * 1024 * 1024
# Slack's replay window for a signed request (its own SDKs use the same 5 minutes).
MAX_AGE = 5 * 60
# A Unix timestamp in seconds; anything else is not one Slack wrote (and int() of a
# 5000-digit string would itself raise).
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class EdgeRules:
    """What the edge enforces.

    Attributes:
        signing_secret: the app's signing secret (every request is HMAC-checked with it).
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


def slack_edge(app: App, rules: EdgeRules, clock: Callable[[], float] = time.time) -> WsgiApp:
    """The WSGI app for `/slack/events`: checks a request, then dispatches it to `app`.

    Args:
        app: the Bolt app (which checks the signature again, harmlessly).
        rules: the secret, the workspace and the size limit.
        clock: seconds since the epoch (tests pin it).

    Returns:
        A WSGI callable that never raises for any request a client can send.
    """

    def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            request = _checked(environ, rules, clock())
        except Refused as refused:
            logger.warning(
                "refused a Slack request: %s",
                refused.reason,
                extra={"http_status": refused.status, "slack_retry_num": _retry(environ)},
            )
            return _answer(start_response, BoltResponse(status=refused.status, body=""))
        return _answer(start_response, app.dispatch(request))

    return wsgi


def _checked(environ: dict[str, Any], rules: EdgeRules, now: float) -> BoltRequest:
    if environ.get("REQUEST_METHOD") != "POST":
        raise Refused(405, "not a POST")
    raw = _read_body(environ, rules.max_body)
    _verify(environ, raw, rules.signing_secret, now)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8") from None
    headers = _headers(environ)
    try:
        # Bolt parses the body and extracts its context (team, user, channel…) here, assuming
        # Slack's shapes: a JSON array, a bad `payload=` field, deep nesting or a `team` that is
        # a number raises one of these. This is the one place a signed-but-garbled body is
        # turned into a 400 instead of a traceback.
        request = BoltRequest(body=text, query=environ.get("QUERY_STRING", ""), headers=headers)
    except (ValueError, RecursionError, AttributeError, TypeError, KeyError, IndexError, BoltError):
        raise Refused(400, "the body is not a Slack request") from None
    _unmask_payload_word(request, text)
    why = problem(request.body)
    if why:
        raise Refused(400, why)
    _check_workspace(request, rules)
    return request


def _unmask_payload_word(request: BoltRequest, text: str) -> None:
    """Bolt reads any form body whose text contains "payload" as an interaction, so a slash
    command saying "payload" (`/access request … debug the payload parser`) parses to nothing.
    Such a form has no `payload` field: give Bolt its fields (the signed raw body is kept)."""
    if request.body or not text or request.content_type == "application/json":
        return
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if fields and "payload" not in fields:
        request.body = fields
        request.context = build_context(BoltContext({}), fields)


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
    length = str(environ.get("CONTENT_LENGTH") or "").strip()
    if length and not length.isdigit():
        raise Refused(400, "Content-Length is not a number")
    if length and int(length) > limit:
        raise Refused(413, f"Content-Length {length[:20]} is over {limit}")
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    # Read at most one byte past the limit, whatever Content-Length said (or if it was absent).
    wanted = min(int(length), limit + 1) if length else limit + 1
    raw: bytes = stream.read(wanted)
    if len(raw) > limit:
        raise Refused(413, f"the body is over {limit} bytes")
    return raw


def _verify(environ: dict[str, Any], raw: bytes, secret: str, now: float) -> None:
    timestamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP") or "")
    signature = str(environ.get("HTTP_X_SLACK_SIGNATURE") or "")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Refused(401, "no valid X-Slack-Request-Timestamp")
    if abs(now - int(timestamp)) > MAX_AGE:
        raise Refused(401, "the timestamp is outside Slack's 5-minute window")
    expected = hmac.new(
        secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(f"v0={expected}".encode(), signature.encode("utf-8", "replace")):
        raise Refused(401, "the signature does not match")


def _check_workspace(request: BoltRequest, rules: EdgeRules) -> None:
    """A request signed with our secret but from another workspace is still not for us."""
    team = request.context.team_id
    enterprise = request.context.enterprise_id
    if rules.team_id and team != rules.team_id:
        raise Refused(403, f"team {str(team)[:20]!r} is not the installed workspace")
    if rules.enterprise_id and enterprise and enterprise != rules.enterprise_id:
        raise Refused(403, f"enterprise {str(enterprise)[:20]!r} is not the installed org")


def _headers(environ: dict[str, Any]) -> dict[str, str | Sequence[str]]:
    headers: dict[str, str | Sequence[str]] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_") and isinstance(value, str):
            headers[key[5:].replace("_", "-").lower()] = value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


def _retry(environ: dict[str, Any]) -> str:
    return str(environ.get("HTTP_X_SLACK_RETRY_NUM") or "")[:4]


def _answer(start_response: StartResponse, response: BoltResponse) -> list[bytes]:
    body = response.body.encode("utf-8") if isinstance(response.body, str) else b""
    headers = [(k, v) for k, values in response.headers.items() for v in values]
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    start_response(f"{response.status} {_REASONS.get(response.status, 'Unknown')}", headers)
    return [body]


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    500: "Internal Server Error",
}
