"""Block Kit models to JSON: what their `to_dict()` returns, limits checked, with less work.

slack_sdk's `to_dict()` looks up each object's validators and attribute names by reflection
on every call (`dir`, set unions, sorting), which was most of the cost of rendering a card. For
the block and element types the builders use, this does the same per class once: every
validator of the class runs, in slack_sdk's order, then the non-empty attributes are written in
sorted order, nested objects alike. Any other type (and any type with its own `to_dict`, such as
`ConfirmObject`) goes through `to_dict()`. tests/unit/test_blocks_fast.py compares the two on
every card and message.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

# Types whose `attributes` are the same for every instance and that keep JsonObject's to_dict.
FAST = (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
_SHAPES: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _shape(obj: JsonObject) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(validator names, attribute names) of the object's class, each sorted."""
    cls = type(obj)
    found = _SHAPES.get(cls)
    if found is None:
        validators = sorted(
            name
            for name in dir(cls)
            if not name.startswith("__") and hasattr(getattr(cls, name, None), "validator")
        )
        found = _SHAPES[cls] = (tuple(validators), tuple(sorted(obj.attributes)))
    return found


def block_json(obj: JsonObject) -> dict[str, Any]:
    """`obj.to_dict()`.

    Raises:
        SlackObjectFormationError: the object breaks one of Slack's limits.
    """
    if type(obj) not in FAST:
        return {k: _value(v) for k, v in obj.to_dict().items()}
    validators, names = _shape(obj)
    for name in validators:
        getattr(obj, name)()
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name, None)
        if value is None or (hasattr(value, "__len__") and len(value) == 0):
            continue
        out[name] = _value(value)
    return out


def _value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [_value(v) for v in value]
    if isinstance(value, JsonObject):
        return block_json(value)
    return value
