"""Builds the running bot from its parts: services, the Bolt app, the outbox drain and the jobs.

`envbot serve`, `envbot demo` and the scenario tests all go through `build_runtime`, so they
run the same handlers, services and jobs; only the clients and backends handed in differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from bot.access.home import ACCESS_HOME
from bot.access.jobs import AccessJobs
from bot.access.reminders import access_reminders
from bot.access.service import AccessService
from bot.db.install import InstallIdError, load_install_id
from bot.db.session import make_engine, make_sessionmaker
from bot.db.version import data_version
from bot.domain.clock import Clock, ManualClock
from bot.environments.cloud_cleanup import CloudCleanupJob
from bot.environments.expiry import EnvironmentExpiry
from bot.environments.home import ENV_HOME
from bot.environments.reconcile import EnvironmentReconciler
from bot.environments.reminders import env_reminders
from bot.environments.service import EnvironmentService
from bot.jobs import Job, JobRunner, Wakeup
from bot.leader import LeaderElector, choose_leader
from bot.lifecycle.context import Context
from bot.lifecycle.escalation import Escalation
from bot.lifecycle.inflight import InFlight
from bot.lifecycle.reminders import ReminderJob
from bot.lifecycle.wake import wake_on_outbox_commit
from bot.policy import Policy
from bot.services.commands import CommandService
from bot.services.container import Services
from bot.services.help import HelpService
from bot.services.home import HomeService
from bot.services.offboarding import OffboardingJob
from bot.services.retention import next_prune, prune
from bot.settings import DEFAULT_ACK_COMMIT, AckCommit, JobSettings
from bot.slack.client import WebClient
from bot.slack.delivery import OutboxDrain
from bot.slack.notify import Notifier
from bot.slack.ports import Directory
from bot.slack.views import SlackViews
from handlers import SlackApp, build_app, listener_pool
from provisioning.base import AccessBackend, EnvironmentBackend
from provisioning.cloud import CloudCleaner, NoCloud


@dataclass(frozen=True)
class Runtime:
    """A wired bot: serve `app`, run `jobs`."""

    services: Services
    app: SlackApp
    drain: OutboxDrain
    jobs: JobRunner
    engine: Engine
    leader: LeaderElector
    listeners: ThreadPoolExecutor

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking work and release everything: the wake thread and the listener pool
        finish what they are doing, then the jobs' lock and the database connections go."""
        self.jobs.stop(timeout)
        self.app.intake.close()
        self.listeners.shutdown(wait=True)
        self.leader.close()
        if self.jobs.version is not None:
            self.jobs.version.close()
        self.engine.dispose()


def build_runtime(
    *,
    policy: Policy,
    database_url: str,
    client: WebClient,
    directory: Directory,
    signing_secret: str,
    clock: Clock,
    team_id: str | None = None,
    enterprise_id: str | None = None,
    env_backends: Mapping[str, EnvironmentBackend],
    access_backends: Mapping[str, AccessBackend],
    cloud: CloudCleaner | None = None,
    default_channel: str = "#platform",
    job_settings: JobSettings | None = None,
    process_before_response: bool = False,
    install_id: str | None = None,
    ack_commit: AckCommit = DEFAULT_ACK_COMMIT,
    ack_journal: Path | None = None,
) -> Runtime:
    """Wire everything; the database must already be migrated (it holds the install id).

    Args:
        install_id: `ENVBOT_INSTALL_ID`, if set: it must be the stored one.
        ack_commit: `ENVBOT_DATABASE__ACK_COMMIT` (how an ack's record commits on PostgreSQL).
        ack_journal: `ENVBOT_ACK_JOURNAL` (the acks' mapped journal file; None: off).

    Raises:
        InstallIdError: the database has no install id, or another one than `install_id`.
    """
    intervals = job_settings or JobSettings()
    engine = make_engine(database_url)
    try:
        install = load_install_id(engine, install_id)
    except InstallIdError:
        engine.dispose()
        raise
    sessions = make_sessionmaker(engine)
    notifier = Notifier()
    wakeup = Wakeup()
    wake_on_outbox_commit(sessions, wakeup)  # a DM queued by a listener goes at once
    ctx = Context(policy, clock, sessions, directory, notifier, wakeup, install)
    help_service = HelpService(policy, directory)
    views = SlackViews(client)
    envs = EnvironmentService(ctx, default_channel, views)
    expiry = EnvironmentExpiry(ctx)
    calls = InFlight(intervals.create_concurrency, name="envbot-create")
    reconciler = EnvironmentReconciler(ctx, env_backends, cloud, calls=calls)
    grants = AccessJobs(ctx, access_backends)
    cleanup = CloudCleanupJob(ctx, cloud or NoCloud())
    offboarding = OffboardingJob(sessions, clock, grants, envs)
    reminders = ReminderJob(ctx, [env_reminders(ctx), access_reminders(ctx)])
    access = AccessService(ctx, views, grants)
    escalation = Escalation(ctx, [envs.life, access.life])
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
        ("access", "break-glass"): access.glass.command,
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
        home=HomeService(ctx, views, [ENV_HOME, ACCESS_HOME]),
        wake=wakeup,
    )
    listeners = listener_pool()
    app = build_app(
        services,
        client=client,
        signing_secret=signing_secret,
        team_id=team_id,
        enterprise_id=enterprise_id,
        process_before_response=process_before_response,
        listener_executor=listeners,
        inbox_lease=intervals.inbox_lease,
        fast_ack_commit=ack_commit == "fast",
        ack_journal=ack_journal,
    )
    resume_after = timedelta(seconds=intervals.outbox_resume_after)
    # Under the stepped runner's manual clock the drain makes one pass in order (no threads,
    # no sleeping); in real time it sends to several channels at once and lingers.
    real_time = not isinstance(clock, ManualClock)
    drain = OutboxDrain(
        sessions,
        client,
        clock,
        resume_after=resume_after,
        workers=intervals.outbox_workers if real_time else 1,
        linger=timedelta(seconds=intervals.outbox_linger if real_time else 0),
        workspace_rate=intervals.outbox_workspace_rate or None,
    )
    every_expiry = timedelta(seconds=intervals.expiry_interval)
    every_reconcile = timedelta(seconds=intervals.reconcile_interval)
    leader = choose_leader(engine, lease=intervals.leader_lease)
    jobs = JobRunner(
        [
            Job("expiry", every_expiry, expiry.expire_due, next_due=expiry.expire_next_due),
            Job("env-timeouts", every_expiry, expiry.timeout_due, next_due=expiry.timeout_next_due),
            Job("access-expiry", every_expiry, grants.expire_due, next_due=grants.expire_next_due),
            Job(
                "access-timeouts",
                every_expiry,
                grants.timeout_due,
                next_due=grants.timeout_next_due,
            ),
            Job("escalation", every_expiry, escalation.run, next_due=escalation.next_due),
            Job("cloud-cleanup", every_reconcile, cleanup.run, next_due=cleanup.next_due),
            Job(
                "break-glass-reviews",
                every_expiry,
                access.reviews.run,
                next_due=access.reviews.next_due,
            ),
            Job(
                "reminders",
                timedelta(seconds=intervals.reminder_interval),
                reminders.run,
                next_due=reminders.next_due,
            ),
            Job(
                "offboarding",
                every_reconcile,
                offboarding.run,
                on_wake=True,
                next_due=offboarding.next_due,
            ),
            Job(
                "reconcile",
                every_reconcile,
                reconciler.reconcile,
                on_wake=True,
                next_due=reconciler.next_due,
                background=reconciler,
            ),
            Job(
                "access-reconcile",
                every_reconcile,
                grants.reconcile,
                on_wake=True,
                next_due=grants.reconcile_next_due,
            ),
            Job(
                "inbox",
                timedelta(seconds=intervals.inbox_lease),
                app.intake.resume_due,
                next_due=app.intake.inbox.next_due,
            ),
            Job(
                "outbox",
                timedelta(seconds=intervals.outbox_interval),
                drain.drain,
                on_wake=True,
                next_due=drain.next_due,
                skip_if_running=real_time,  # a lingering run picks up what a wake would
            ),
            Job(
                "retention",
                timedelta(seconds=intervals.retention_interval),
                lambda: prune(sessions, clock, policy.retention),
                next_due=lambda _now: next_prune(sessions, policy.retention),
            ),
        ],
        leader=leader,
        wakeup=wakeup,
        # The stepped runner keeps `next_due` answers while nothing is committed.
        version=None if real_time else data_version(engine),
    )
    return Runtime(
        services=services,
        app=app,
        drain=drain,
        jobs=jobs,
        engine=engine,
        leader=leader,
        listeners=listeners,
    )
