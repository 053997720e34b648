"""The shapes Slack sends, checked before any listener sees a body: a request Slack would never
send (a missing user, an `actions` that is not a list, an unknown type) is refused at the edge.

Bolt's listener matchers and envbot's listeners index into the body (`body["user"]["id"]`,
`for action in body["actions"]`); checking those paths here, once, is what keeps a forged or
garbled body from reaching them as an exception. Pure: no Bolt, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

# Scalars Bolt and the listeners read as strings wherever they appear.
_STRINGS = (
    "type",
    "team_id",
    "enterprise_id",
    "user_id",
    "channel_id",
    "api_app_id",
    "trigger_id",
    "response_url",
    "callback_id",
    "event_id",
    "action_id",
    "block_id",
    "value",
    "action_ts",
    "private_metadata",
    "hash",
    "tab",
)
# References Slack sends either as an id string or as an object with an `id`.
_REFS = ("team", "enterprise", "user", "channel")
# Objects Bolt's context extraction walks into.
_NESTED = ("event", "message", "previous_message", "item", "assistant_thread", "container", "view")
_SLASH_FIELDS = ("command", "user_id", "team_id", "channel_id", "trigger_id", "response_url")
# Interactions Slack may send an app with envbot's manifest; Bolt answers the ones with no listener.
_INTERACTIONS = frozenset(
    {"block_actions", "view_submission", "view_closed", "shortcut", "message_action"}
)
_EVENTS = frozenset({"event_callback", "app_rate_limited"})


def problem(body: Any) -> str | None:
    """Why `body` (as Bolt parsed it) is not a request Slack sends, or None when it is.

    Args:
        body: the parsed body: a form's fields, a JSON object, or an interaction's `payload`.

    Returns:
        A short reason for the log line, or None.
    """
    if not isinstance(body, dict):
        return "the body is not an object"
    unstorable = _unstorable(body)
    if unstorable:
        return unstorable
    if "command" in body:
        missing = [f for f in _SLASH_FIELDS if not _text(body.get(f))]
        return f"a slash command without {', '.join(missing)}" if missing else None
    if body.get("ssl_check"):
        return None
    found = _node(body, depth=0)
    if found:
        return found
    kind = body.get("type")
    if kind == "url_verification":
        return (
            None if isinstance(body.get("challenge"), str) else "url_verification without challenge"
        )
    if kind in _EVENTS:
        return _event(body)
    if kind in _INTERACTIONS:
        return _interaction(body)
    return f"unknown request type {str(kind)[:40]!r}"


def _unstorable(body: dict[str, Any]) -> str | None:
    """A value no database column takes and Slack never sends: a NUL (PostgreSQL's text), NaN
    or infinity (PostgreSQL's json), a lone surrogate (not UTF-8). The request is recorded in
    the inbox before the ack, and such a value would fail that insert for its whole batch."""
    stack: list[Any] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            if "\x00" in node:
                return "a value holds a NUL character"
            if not node.isascii():
                try:
                    node.encode("utf-8")
                except UnicodeEncodeError:
                    return "a value is not valid Unicode"
        elif isinstance(node, float) and not math.isfinite(node):
            return "a number is not finite"
    return None


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _node(node: Mapping[str, Any], depth: int) -> str | None:
    """Types of the keys Bolt's context extraction reads, here and in the objects below."""
    if depth > 3:
        return None
    for key in _STRINGS:
        if key in node and not isinstance(node[key], str | None):
            return f"{key} is not a string"
    for key in _REFS:
        ref = node.get(key)
        if isinstance(ref, dict):
            if not isinstance(ref.get("id"), str | None):
                return f"{key}.id is not a string"
            if not isinstance(ref.get("enterprise_id"), str | None):
                return f"{key}.enterprise_id is not a string"
        elif not isinstance(ref, str | None):
            return f"{key} is neither an id nor an object"
    auths = node.get("authorizations")
    if auths is not None and not (
        isinstance(auths, list) and all(isinstance(a, dict) for a in auths)
    ):
        return "authorizations is not a list of objects"
    for auth in auths or []:
        found = _node(auth, depth + 1)
        if found:
            return f"authorizations: {found}"
    urls = node.get("response_urls")
    if urls is not None and not (
        isinstance(urls, list)
        and all(isinstance(u, dict) and isinstance(u.get("response_url"), str) for u in urls)
    ):
        return "response_urls is not a list of response urls"
    for key in _NESTED:
        child = node.get(key)
        if child is None:
            continue
        if not isinstance(child, dict):
            return f"{key} is not an object"
        found = _node(child, depth + 1)
        if found:
            return f"{key}.{found}"
    return None


def _event(body: Mapping[str, Any]) -> str | None:
    if body.get("type") == "app_rate_limited":
        return None
    event = body.get("event")
    if not isinstance(event, dict) or not _text(event.get("type")):
        return "an event_callback without an event type"
    if not _text(body.get("event_id")):
        return "an event_callback without event_id"
    return None


def _interaction(body: Mapping[str, Any]) -> str | None:
    user = body.get("user")
    if not isinstance(user, dict) or not _text(user.get("id")):
        return "an interaction without a user"
    kind = body.get("type")
    if kind in ("block_actions", "view_submission") and not _text(body.get("trigger_id")):
        return f"{kind} without trigger_id"
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "block_actions without a list of actions"
        for action in actions:
            if not isinstance(action, dict) or not _text(action.get("action_id")):
                return "an action without action_id"
            found = _node(action, depth=1)
            if found:
                return f"action {found}"
    if kind in ("view_submission", "view_closed"):
        return _view(body.get("view"), body.get("workflow_step"))
    return None


def _view(view: Any, step: Any) -> str | None:
    if not isinstance(view, dict) or not _text(view.get("callback_id")):
        return "a view without callback_id"
    # Bolt reads a submission's `view["type"]`, and a workflow_step view's `workflow_step`
    if not _text(view.get("type")):
        return "a view without type"
    if view["type"] == "workflow_step" and not isinstance(step, dict):
        return "a workflow_step view without workflow_step"
    state = view.get("state")
    if state is None:
        return None
    values = state.get("values") if isinstance(state, dict) else None
    if not isinstance(values, dict):
        return "a view state without values"
    for block in values.values():
        if not isinstance(block, dict) or not all(isinstance(e, dict) for e in block.values()):
            return "a view state value is not an object of inputs"
        for element in block.values():
            selected = element.get("selected_option")
            if selected is not None and not isinstance(selected, dict):
                return "a selected_option is not an object"
    return None
