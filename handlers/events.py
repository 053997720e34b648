"""Events API: `app_home_opened` (the Home tab) and `user_change` (offboarding)."""

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

    @app.event("app_home_opened")
    def handle_app_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home":
            services.home.publish(str(event["user"]))
