"""The fake Slack's argument handling: form or JSON parameters, Slack's error answers."""

from __future__ import annotations

import json
from typing import Any

Params = dict[str, Any]
Result = dict[str, Any]


class ApiError(Exception):
    """A Slack `{"ok": false, "error": ...}` answer."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


def flag(params: Params, key: str) -> bool:
    return str(params.get(key, "")).lower() in ("1", "true")


def required(params: Params, key: str) -> str:
    value = params.get(key)
    if value is None or value == "":
        raise ApiError("invalid_arguments", [f"[ERROR] missing required field: {key}"])
    return str(value)


def json_arg(params: Params, key: str, error: str) -> Any:
    """Blocks and views may arrive as JSON strings in form data."""
    value = params.get(key)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ApiError(error, [f"[ERROR] {key} is not valid JSON: {exc}"]) from exc
    return value
