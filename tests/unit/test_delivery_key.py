"""Dedupe keys of Slack deliveries (`delivery_key`): which requests have one; it is bounded.
The replays themselves, over signed HTTP through the real app: tests/scenario/test_replays.py."""

from __future__ import annotations

from typing import Any

from bot.services.inbound import delivery_key


def _click(action_ts: str = "1767603600.000100") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T0ENVBOT"},
        "user": {"id": "U0BOB"},
        "api_app_id": "A0ENVBOT",
        "container": {"type": "message", "message_ts": "1767603500.000100", "channel_id": "C0"},
        "trigger_id": "1.2.3",
        "actions": [
            {
                "type": "button",
                "block_id": "request_actions",
                "action_id": "approve",
                "value": "r7k2qm",
                "action_ts": action_ts,
            }
        ],
    }


def test_keys_are_bounded_and_only_for_events_and_clicks() -> None:
    assert delivery_key({"type": "event_callback", "event_id": "Ev1"}) == "event:Ev1"
    assert delivery_key({"type": "view_submission"}) is None
    assert delivery_key({"type": "url_verification", "challenge": "x"}) is None
    long = delivery_key({"type": "event_callback", "event_id": "E" * 500})
    assert long is not None
    assert len(long) <= 200
    click = delivery_key(_click() | {"actions": [dict(_click()["actions"][0], value="v" * 3000)]})
    assert click is not None
    assert len(click) <= 200
