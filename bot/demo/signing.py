"""Builds Slack requests (slash commands, button clicks) signed exactly as Slack signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode


def sign(
    secret: str,
    body: str,
    timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
) -> dict[str, str]:
    """The headers Slack sends: `v0=` HMAC-SHA256 of `v0:{ts}:{body}` with the signing secret."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": content_type,
    }


def slash_body(
    command: str,
    text: str,
    *,
    user_id: str,
    user_name: str,
    channel_id: str,
    response_url: str,
    trigger_id: str,
    team_id: str = "T0ENVBOT",
) -> str:
    """The form body of a slash command invocation."""
    return urlencode(
        {
            "token": "unused",
            "team_id": team_id,
            "team_domain": "envbot-demo",
            "channel_id": channel_id,
            "channel_name": "platform",
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": "A0ENVBOT",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def event_body(event: dict[str, Any], event_id: str, event_time: int) -> str:
    """The JSON body of an Events API delivery."""
    return json.dumps(
        {
            "token": "unused",
            "team_id": "T0ENVBOT",
            "api_app_id": "A0ENVBOT",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": event_time,
            "event": event,
        }
    )


def interaction_body(payload: dict[str, Any]) -> str:
    """The form body of an interaction (button click, modal submit): `payload=<json>`."""
    return urlencode({"payload": json.dumps(payload)})
