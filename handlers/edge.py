"""The signed-HTTP edge in front of Bolt: size, then signature and timestamp, then parsing, then
shape and workspace; only a request that passes all of them is dispatched to the listeners (or
acked by the lane, `handlers.commands.lane`, when it is a slash command that is only recorded).

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
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.request import BoltRequest

from handlers.gate import MAX_BODY, EdgeRules, Refused, admit, bolt_request, label

__all__ = ["MAX_BODY", "EdgeRules", "Lane", "Refused", "StartResponse", "WsgiApp", "slack_edge"]

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
#: Answers an admitted request without Bolt's dispatch, or returns None to leave it to Bolt.
Lane = Callable[[BoltRequest], BoltResponse | None]

# Slack's replay window for a signed request (its own SDKs use the same 5 minutes).
MAX_AGE = 5 * 60
# A Unix timestamp in seconds; anything else is not one Slack wrote (and int() of a
# 5000-digit string would itself raise).
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def slack_edge(
    app: App, rules: EdgeRules, clock: Callable[[], float] = time.time, lane: Lane | None = None
) -> WsgiApp:
    """The WSGI app for `/slack/events`: checks a request, then dispatches it to `app`.

    Args:
        app: the Bolt app (which checks the signature again, harmlessly).
        rules: the secret, the workspace and the size limit.
        clock: seconds since the epoch (tests pin it).
        lane: offered each checked request first (`handlers.commands.lane`: a slash command
            that is only recorded and handed on is acked without Bolt's dispatch).

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
        if lane is not None and (response := lane(request)) is not None:
            return _answer(start_response, response)
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
    request = bolt_request(text, query=environ.get("QUERY_STRING", ""), headers=_headers(environ))
    admit(request, rules)
    return label(request)


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
