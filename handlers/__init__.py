"""Slack listeners: `build_app()` makes the Bolt app and registers every surface on it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from slack_bolt import App

from bot.services.container import Services
from bot.slack.client import WebClient
from handlers import actions, commands, errors, events, views
from handlers.dedupe import register_dedupe
from handlers.edge import EdgeRules
from handlers.transport import SlackApp

__all__ = ["EdgeRules", "SlackApp", "build_app", "register_all"]


def register_all(app: App, services: Services) -> None:
    """Register inbound dedupe, every surface's listeners, then the one error handler."""
    register_dedupe(app, services.sessions, services.clock)
    commands.register(app, services)
    actions.register(app, services)
    views.register(app, services)
    events.register(app, services)
    errors.register(app, services)


def listener_pool() -> ThreadPoolExecutor:
    """The pool listener bodies run on after ack()."""
    return ThreadPoolExecutor(max_workers=32, thread_name_prefix="envbot-listener")


def build_app(
    services: Services,
    *,
    client: WebClient,
    signing_secret: str,
    team_id: str | None = None,
    enterprise_id: str | None = None,
    process_before_response: bool = False,
    listener_executor: ThreadPoolExecutor | None = None,
) -> SlackApp:
    """The Bolt app envbot serves (HTTP or Socket Mode) and the demo dispatches to.

    Args:
        services: the use cases the listeners call.
        client: the Web API client (the real Slack, or the fake in the demo and tests).
        signing_secret: verifies that requests come from Slack.
        team_id: the installed workspace; signed requests from any other team are refused.
        enterprise_id: the installed Enterprise Grid org, when there is one.
        process_before_response: hold the response until the listener ends (the demo,
            so each line's output is complete before the next line runs).
        listener_executor: where listener bodies run after ack() (default: 32 threads).
    """
    app = SlackApp(
        edge=EdgeRules(signing_secret, team_id=team_id, enterprise_id=enterprise_id),
        client=client,
        # Listener bodies run after ack() on this pool; Bolt's default of 5 threads lets a few
        # slow Slack lookups starve the next request's ack past Slack's 3 s.
        listener_executor=listener_executor or listener_pool(),
        token_verification_enabled=False,
        process_before_response=process_before_response,
        raise_error_for_unhandled_request=False,
        # Without a name Bolt takes the caller's file name from inspect.stack(), which reads
        # the source of every frame: 0.1-0.5 s of each start-up.
        name="envbot",
    )
    register_all(app, services)
    return app
