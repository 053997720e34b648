"""Builds the running bot from its parts: services, the Bolt app, the outbox drain and the jobs.

`envbot serve`, `envbot demo` and the scenario tests all go through `build_runtime`, so they
run the same handlers, services and jobs; only the clients and backends handed in differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import Engine

from bot.db.session import make_engine, make_sessionmaker
from bot.delivery import OutboxDrain
from bot.domain.clock import Clock
from bot.jobs import Job, JobRunner
from bot.leader import LeaderElector, choose_leader
from bot.notify import Notifier
from bot.policy import Policy
from bot.services.access import AccessService
from bot.services.access_grants import GrantWorker
from bot.services.cloud_cleanup import CloudCleanupJob
from bot.services.commands import CommandService
from bot.services.container import Services
from bot.services.env_reconcile import EnvironmentReconciler
from bot.services.environments import EnvironmentService
from bot.services.help import HelpService
from bot.services.home import HomeService
from bot.services.ports import Directory
from bot.services.reminders import ReminderService
from bot.services.retention import prune
from bot.settings import JobSettings
from bot.slack_views import SlackViews
from handlers import build_app
from provisioning.base import AccessBackend, EnvironmentBackend
from provisioning.cloud import CloudCleaner, NoCloud


@dataclass(frozen=True)
class Runtime:
    """A wired bot: serve `app`, run `jobs`."""

    services: Services
    app: App
    drain: OutboxDrain
    jobs: JobRunner
    engine: Engine
    leader: LeaderElector


def build_runtime(
    *,
    policy: Policy,
    database_url: str,
    client: WebClient,
    directory: Directory,
    signing_secret: str,
    clock: Clock,
    env_backends: Mapping[str, EnvironmentBackend],
    access_backends: Mapping[str, AccessBackend],
    cloud: CloudCleaner | None = None,
    default_channel: str = "#platform",
    job_settings: JobSettings | None = None,
    process_before_response: bool = False,
) -> Runtime:
    """Wire everything; the database must already be migrated."""
    intervals = job_settings or JobSettings()
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    notifier = Notifier()
    help_service = HelpService(policy, directory)
    envs = EnvironmentService(policy, clock, sessions, directory, notifier, default_channel)
    reconciler = EnvironmentReconciler(policy, clock, sessions, notifier, env_backends)
    grants = GrantWorker(policy, clock, sessions, notifier, access_backends)
    views = SlackViews(client)
    cleanup = CloudCleanupJob(clock, sessions, notifier, cloud or NoCloud())
    reminders = ReminderService(policy, clock, sessions, directory, notifier)
    access = AccessService(policy, clock, sessions, directory, notifier, grants, views)
    routes = {
        ("env", "create"): envs.create,
        ("env", "list"): envs.list,
        ("env", "show"): envs.show,
        ("env", "extend"): envs.extend,
        ("env", "transfer"): envs.transfer,
        ("env", "delete"): envs.delete,
        ("env", "access"): envs.access,
        ("access", "request"): access.request_command,
        ("access", "list"): access.list,
        ("access", "extend"): access.extend,
        ("access", "revoke"): access.revoke_command,
        ("access", "cancel"): access.cancel_command,
    }
    commands = CommandService(help_service, routes)
    services = Services(
        policy=policy,
        clock=clock,
        sessions=sessions,
        directory=directory,
        notifier=notifier,
        views=views,
        help=help_service,
        commands=commands,
        envs=envs,
        access=access,
        grants=grants,
        home=HomeService(policy, clock, sessions, directory, views),
    )
    app = build_app(
        services,
        client=client,
        signing_secret=signing_secret,
        process_before_response=process_before_response,
    )
    drain = OutboxDrain(sessions, client, clock)
    expiry = timedelta(seconds=intervals.expiry_interval)
    reconcile = timedelta(seconds=intervals.reconcile_interval)
    leader = choose_leader(engine)
    jobs = JobRunner(
        [
            Job("expiry", expiry, reconciler.expire_due),
            Job("env-timeouts", expiry, reconciler.timeout_due),
            Job("access-expiry", expiry, grants.expire_due),
            Job("access-timeouts", expiry, grants.timeout_due),
            Job("cloud-cleanup", reconcile, cleanup.run),
            Job("reminders", timedelta(seconds=intervals.reminder_interval), reminders.run),
            Job("reconcile", reconcile, reconciler.reconcile),
            Job("access-reconcile", reconcile, grants.reconcile),
            Job("outbox", timedelta(seconds=intervals.outbox_interval), drain.drain),
            Job(
                "retention",
                timedelta(seconds=intervals.retention_interval),
                lambda: prune(sessions, clock, policy.retention),
            ),
        ],
        leader=leader,
    )
    return Runtime(services=services, app=app, drain=drain, jobs=jobs, engine=engine, leader=leader)
