"""What a modal submission carries: the `state.values` Slack would send for a form."""

from __future__ import annotations

from typing import Any


def form_values(
    blocks: list[dict[str, Any]], given: dict[str, str]
) -> tuple[dict[str, Any], set[str]]:
    """A modal's `state.values` as Slack would send them: typed values, else initial ones."""
    values: dict[str, Any] = {}
    fields: set[str] = set()
    for block in blocks:
        if block.get("type") != "input":
            continue
        field, element = str(block["block_id"]), block["element"]
        fields.add(field)
        action = str(element["action_id"])
        if element["type"] == "static_select":
            initial = (element.get("initial_option") or {}).get("value")
            value = given.get(field, initial)
            option = {"text": {"type": "plain_text", "text": value}, "value": value}
            values[field] = {
                action: {"type": "static_select", "selected_option": option if value else None}
            }
        else:
            value = given.get(field, element.get("initial_value"))
            values[field] = {action: {"type": element["type"], "value": value}}
    return values, fields
