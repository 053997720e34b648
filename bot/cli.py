"""The `envbot` command: the composition root that parses arguments and starts the right thing."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.logs import configure_logging
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.policy import Policy
    from provisioning.cloud import CloudCleaner

logger = logging.getLogger(__name__)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply the Alembic migrations (or go down with --downgrade REV)."""
    from bot.db import migrate
    from bot.db.install import InstallIdError

    settings = Settings()
    url = args.database_url or settings.database_url.get_secret_value()
    if args.downgrade:
        migrate.downgrade(url, args.downgrade)
        return 0
    try:
        install_id = migrate.upgrade(url, install_id=settings.install_id)
    except InstallIdError as exc:
        sys.stderr.write(f"envbot migrate: {exc}\n")
        return 1
    sys.stdout.write(f"migrated; install id {install_id}\n")
    return 0


def cmd_policy_check(args: argparse.Namespace) -> int:
    """Validate a policy file; list every error and exit 1 when there is one.

    Keys that have no effect, and templates that are valid but probably not meant (a topology
    without AWS tags, a variable no placeholder uses), are listed as warnings; they alone leave
    the exit code 0.
    """
    from bot.policy import check_policy_file, load_policy, policy_warnings
    from bot.policy.ineffective import check_policy_warnings

    path = Path(args.file or Settings().policy_file)
    errors = check_policy_file(path)
    for line in errors:
        sys.stderr.write(line + "\n")
    for line in check_policy_warnings(path):
        sys.stderr.write(f"warning: {line}\n")
    if errors:
        sys.stderr.write(f"{path}: {len(errors)} error(s)\n")
        return 1
    for line in policy_warnings(load_policy(path), source=path.name):
        sys.stderr.write(f"warning: {line}\n")
    sys.stdout.write(f"{path}: ok\n")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo world: a tour script, or a prompt."""
    level = logging.INFO if args.verbose else logging.WARNING
    logging.getLogger().setLevel(level)
    logging.getLogger("alembic").setLevel(level)
    from bot.demo.tour import interactive, run_script

    policy = Path(args.policy)
    if args.script:
        with open(args.script, encoding="utf-8") as lines:
            return run_script(lines, policy, sys.stdout)
    return interactive(policy)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the bot: HTTP (signed requests) or Socket Mode, plus the background jobs."""
    # Alembic (with Mako and Pygments) loads only with --migrate, boto3 only when the policy
    # uses AWS: `envbot serve` is ready sooner and smaller (docs/PERFORMANCE.md, P5).
    from bot.db.install import InstallIdError
    from bot.db.revision import head_revision, schema_ready
    from bot.domain.clock import SystemClock
    from bot.policy import load_policy
    from bot.policy.ineffective import check_policy_warnings
    from bot.server import HttpServer, make_wsgi_app
    from bot.slack.client import make_client
    from bot.slack.directory import SlackDirectory
    from bot.wiring import build_runtime
    from handlers.transport import run_socket_mode
    from provisioning.kube.client import KubeClients
    from provisioning.registry import build_access_backends, build_environment_backends

    settings = Settings()
    logger.info("effective settings: %s", settings.masked())
    policy = load_policy(settings.policy_file)
    for line in check_policy_warnings(settings.policy_file):
        logger.warning("policy: %s", line)
    slack = settings.slack
    if slack.bot_token is None:
        raise SystemExit("ENVBOT_SLACK__BOT_TOKEN is not set (or _FILE / ENVBOT_SECRETS_DIR)")
    app_token = slack.app_token
    if app_token is None and slack.signing_secret is None:
        raise SystemExit(
            "HTTP mode needs ENVBOT_SLACK__SIGNING_SECRET (or set an app token for Socket Mode)"
        )
    url = settings.database_url.get_secret_value()
    try:
        if args.migrate:
            from bot.db import migrate

            migrate.upgrade(url, install_id=settings.install_id)
    except InstallIdError as exc:
        raise SystemExit(f"envbot serve: {exc}") from None
    client = make_client(slack.bot_token.get_secret_value(), slack.api_url)
    clock = SystemClock()
    contexts = {name: c.context for name, c in policy.clusters.items()}
    kube = KubeClients(
        str(settings.kubeconfig) if settings.kubeconfig else None, settings.kube_context, contexts
    )
    runtime = build_runtime(
        policy=policy,
        database_url=url,
        client=client,
        directory=SlackDirectory(client),
        signing_secret=slack.signing_secret.get_secret_value() if slack.signing_secret else "",
        clock=clock,
        team_id=slack.team_id,
        enterprise_id=slack.enterprise_id,
        env_backends=build_environment_backends(clock, kube),
        access_backends=build_access_backends(kube),
        cloud=_cloud_cleaner(policy),
        job_settings=settings.jobs,
        install_id=settings.install_id,
    )
    if not schema_ready(runtime.engine):
        logger.warning(
            "the database is not at revision %s: /readyz answers 503 until `envbot migrate` ran",
            head_revision(),
        )
    scheduler = runtime.jobs.start_background()
    wsgi = make_wsgi_app(runtime.app, ready=lambda: schema_ready(runtime.engine))
    server = HttpServer(wsgi, settings.http_host, settings.http_port)
    try:
        if app_token is not None:
            # Health, readiness and metrics stay on HTTP; Slack's requests come over the socket.
            threading.Thread(target=server.serve_forever, daemon=True).start()
            run_socket_mode(runtime.app, app_token.get_secret_value())
        else:
            server.serve_forever()
    finally:
        scheduler.shutdown(wait=False)
        runtime.close()
    return 0


def _cloud_cleaner(policy: Policy) -> CloudCleaner:
    """The AWS cleaners when a workspace (or `cleanup.region`) uses AWS, else `NoCloud`
    (the same answers as cleaners for no workspace) without importing boto3."""
    from provisioning.cloud import NoCloud

    if not (policy.cleanup.region or any(ws.aws for ws in policy.workspaces.values())):
        return NoCloud()
    from provisioning.aws import build_cloud_cleaner

    return build_cloud_cleaner(policy)


def cmd_audit_export(args: argparse.Namespace) -> int:
    """Write the audit trail since --since as CSV or JSON lines."""
    from datetime import UTC, datetime

    from bot.db.session import make_engine, make_sessionmaker
    from bot.services.audit_export import export

    try:
        since = datetime.fromisoformat(args.since)
    except ValueError:
        sys.stderr.write(
            f'--since "{args.since}" is not a date (use 2026-01-05 or 2026-01-05T09:00:00+00:00)\n'
        )
        return 2
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    url = args.database_url or Settings().database_url.get_secret_value()
    engine = make_engine(url)
    try:
        if args.output == "-":
            count = export(make_sessionmaker(engine), since, args.format, sys.stdout)
        else:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                count = export(make_sessionmaker(engine), since, args.format, out)
    finally:
        engine.dispose()
    sys.stderr.write(f"{count} event(s) exported\n")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check settings, policy, database, Slack and Kubernetes; exit 1 if any check fails."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from bot.doctor import run_checks

    checks = run_checks()
    for check in checks:
        mark = "FAIL" if not check.ok else "WARN" if check.warn else "ok  "
        sys.stdout.write(f"{mark} {check.name}: {check.detail}\n")
    return 0 if all(c.ok for c in checks) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="envbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.add_argument("--database-url", help="overrides ENVBOT_DATABASE_URL")
    p.add_argument("--downgrade", metavar="REV", help="downgrade to REV (e.g. base) instead")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("policy", help="policy file tools")
    policy_sub = p.add_subparsers(dest="policy_command", required=True)
    p = policy_sub.add_parser("check", help="validate a policy file (exit 1 with every error)")
    p.add_argument("file", nargs="?", help="defaults to ENVBOT_POLICY_FILE")
    p.set_defaults(func=cmd_policy_check)

    p = sub.add_parser("doctor", help="check settings, policy, database, Slack and Kubernetes")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("audit", help="audit trail tools")
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    p = audit_sub.add_parser("export", help="export audit events since a date")
    p.add_argument("--since", required=True, help="ISO date or time, UTC unless it says")
    p.add_argument("--format", choices=("csv", "json"), default="csv")
    p.add_argument("--output", default="-", help="file to write (default: stdout)")
    p.add_argument("--database-url", help="overrides ENVBOT_DATABASE_URL")
    p.set_defaults(func=cmd_audit_export)

    p = sub.add_parser("serve", help="run the bot (HTTP, or Socket Mode with an app token)")
    p.add_argument("--migrate", action="store_true", help="apply migrations before starting")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="the embedded demo: fake Slack, in-memory backends, SQLite")
    p.add_argument("--script", help="run this tour instead of a prompt")
    p.add_argument("--policy", default="examples/policy.yaml", help="policy file to use")
    p.add_argument("-v", "--verbose", action="store_true", help="show the bot's logs")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `envbot` console script."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        settings = Settings()
        configure_logging(settings.log_level, settings.log_json)
    else:
        configure_logging("INFO")
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
