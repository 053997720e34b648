"""Events API: `app_home_opened` (the Home tab) and `user_change` (offboarding)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from bot.services.container import Services


def register(app: App, services: Services) -> None:
    """Register the event listeners."""

    @app.event("user_change")
    def handle_user_change(event: dict[str, Any], logger: logging.Logger) -> None:
        user = event.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            # Slack always sends the user object; without it there is no one to offboard.
            logger.warning("ignored a user_change event without a user")
            return
        if user.get("deleted"):
            services.offboard(user["id"])

    @app.event("app_home_opened")
    def handle_app_home_opened(event: dict[str, Any], logger: logging.Logger) -> None:
        user = event.get("user")
        if not isinstance(user, str) or not user:
            logger.warning("ignored an app_home_opened event without a user")
            return
        if event.get("tab", "home") == "home":
            services.home.publish(user)
