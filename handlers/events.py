"""Events API: `user_change` for offboarding (a deactivated user's access ends at once)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.services.container import Services


def register(app: App, services: Services) -> None:
    """Register the event listeners."""

    @app.event("user_change")
    def handle_user_change(event: dict[str, Any]) -> None:
        user = event.get("user", {})
        if user.get("deleted"):
            services.offboard(str(user["id"]))
