"""Events API: `app_home_opened` (the Home tab) and `user_change` (offboarding), recorded and
handed on like every other request (`handlers.intake`)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.services.container import Services
from handlers.intake import Intake, delivery_key

logger = logging.getLogger(__name__)


def register(app: App, services: Services, intake: Intake) -> None:
    """Register the event listeners."""

    def run(body: dict[str, Any]) -> None:
        event = body.get("event")
        event = event if isinstance(event, dict) else {}
        if event.get("type") == "user_change":
            user_change(event)
        elif event.get("type") == "app_home_opened":
            home_opened(event)

    def user_change(event: dict[str, Any]) -> None:
        user = event.get("user")
        if not isinstance(user, dict) or not isinstance(user.get("id"), str):
            # Slack always sends the user object; without it there is no one to offboard.
            logger.warning("ignored a user_change event without a user")
            return
        if user.get("deleted"):
            services.offboard(user["id"])

    def home_opened(event: dict[str, Any]) -> None:
        user = event.get("user")
        if not isinstance(user, str) or not user:
            logger.warning("ignored an app_home_opened event without a user")
            return
        if event.get("tab", "home") == "home":
            services.home.publish(user)

    intake.register("event", run)

    @app.event("user_change")
    def handle_user_change(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        intake.take("event", delivery_key(context, "event"), body)
        ack()

    @app.event("app_home_opened")
    def handle_app_home_opened(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        intake.take("event", delivery_key(context, "event"), body)
        ack()
