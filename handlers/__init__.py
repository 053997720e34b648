"""Slack listeners: `build_app()` makes the Bolt app and registers every surface on it."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from slack_bolt import App

from bot.services.container import Services
from bot.services.inbox import Inbox
from bot.services.journal import Journal, JournalError
from bot.slack.client import WebClient
from handlers import actions, commands, errors, events, views
from handlers.edge import EdgeRules
from handlers.intake import Intake
from handlers.transport import SlackApp

__all__ = ["EdgeRules", "Intake", "SlackApp", "build_app", "register_all"]

#: Workers that run acknowledged requests (`handlers.intake`); more only queue on the GIL and on
#: SQLite's write lock, fewer let a few slow Slack lookups hold up the rest.
WORKERS = 8
#: Seconds before an acknowledged request whose worker died is run again
#: (`ENVBOT_JOBS__INBOX_LEASE`).
INBOX_LEASE = 60.0


def register_all(app: App, services: Services, intake: Intake) -> None:
    """Register every surface's listeners, then the one error handler. (Each request's dedupe
    key and arrival are named by the edge, `handlers.gate.label`.)"""
    commands.register(app, services, intake)
    actions.register(app, services, intake)
    views.register(app, services, intake)
    events.register(app, services, intake)
    errors.register(app, services)


def listener_pool() -> ThreadPoolExecutor:
    """The pool that works acknowledged requests (inbox rows), its threads already started: the
    pool starts a thread inside `submit`, which waits for the new thread to run, and under a
    burst that wait was the slowest part of the first acks."""
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="envbot-worker")
    together = threading.Barrier(WORKERS)
    for _ in range(WORKERS):  # each waits for all: the pool has to start every thread
        pool.submit(together.wait, 10.0)
    return pool


def build_app(
    services: Services,
    *,
    client: WebClient,
    signing_secret: str,
    team_id: str | None = None,
    enterprise_id: str | None = None,
    process_before_response: bool = False,
    listener_executor: ThreadPoolExecutor | None = None,
    inbox_lease: float = INBOX_LEASE,
    fast_ack_commit: bool = False,
    ack_journal: Path | None = None,
) -> SlackApp:
    """The Bolt app envbot serves (HTTP or Socket Mode) and the demo dispatches to.

    Args:
        services: the use cases the listeners call.
        client: the Web API client (the real Slack, or the fake in the demo and tests).
        signing_secret: verifies that requests come from Slack.
        team_id: the installed workspace; signed requests from any other team are refused.
        enterprise_id: the installed Enterprise Grid org, when there is one.
        process_before_response: work each request before answering it (the demo, so each
            line's output is complete before the next line runs); otherwise a request is
            recorded, acked, and worked on `listener_executor`.
        listener_executor: the workers (default: `WORKERS` threads).
        inbox_lease: seconds before a request whose worker died is run again.
        fast_ack_commit: on PostgreSQL, a request's record does not wait for the WAL flush.
        ack_journal: `ENVBOT_ACK_JOURNAL`: the listener appends each request to this mapped
            file and a thread moves it into the inbox (`bot/services/journal.py`); what the
            file holds is ingested before this returns. A file that cannot be used is logged
            and requests are recorded in the database as without it.
    """
    pool = listener_executor or listener_pool()
    app = SlackApp(
        edge=EdgeRules(signing_secret, team_id=team_id, enterprise_id=enterprise_id),
        client=client,
        listener_executor=pool,
        token_verification_enabled=False,
        # The listener only records the request (one short write) and hands it on, so Bolt
        # answers as soon as it returns, without polling for the ack every 10 ms.
        process_before_response=True,
        raise_error_for_unhandled_request=False,
        # Without a name Bolt takes the caller's file name from inspect.stack(), which reads
        # the source of every frame: 0.1-0.5 s of each start-up.
        name="envbot",
    )
    inbox = Inbox(
        services.sessions,
        services.clock,
        timedelta(seconds=inbox_lease),
        fast_commit=fast_ack_commit,
    )
    app.intake = Intake(services, inbox, pool, inline=process_before_response)
    if ack_journal is not None and not process_before_response:
        try:
            app.intake.use_journal(Journal(ack_journal))
        except JournalError as exc:
            logging.getLogger(__name__).error("%s; acks are recorded in the database", exc)
    register_all(app, services, app.intake)
    app.lane = commands.lane(app.intake)
    return app
