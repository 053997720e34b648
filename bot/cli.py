"""The `envbot` command: the composition root that parses arguments and starts the right thing."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot.logs import configure_logging
from bot.settings import SettingsError, load_settings

if TYPE_CHECKING:
    from bot.policy import Policy
    from provisioning.cloud import CloudCleaner

logger = logging.getLogger(__name__)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply the Alembic migrations (or go down with --downgrade REV)."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.db import migrate
    from bot.db.install import InstallIdError

    settings = load_settings()
    url = args.database_url or settings.database_url.get_secret_value()
    try:
        if args.downgrade:
            migrate.downgrade(url, args.downgrade)
            return 0
        install_id = migrate.upgrade(url, install_id=settings.install_id)
    except InstallIdError as exc:
        sys.stderr.write(f"envbot migrate: {exc}\n")
        return 1
    except SQLAlchemyError as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        sys.stderr.write(
            f"envbot migrate: cannot reach the database ({exc.__class__.__name__}: {first}); "
            "check ENVBOT_DATABASE_URL (or --database-url) and that the database is up\n"
        )
        return 2
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

    path = Path(args.file or load_settings().policy_file)
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
    """Run the demo world: a tour script, a prompt, or (--serve) the real server on it."""
    level = logging.INFO if args.verbose else logging.WARNING
    logging.getLogger().setLevel(level)
    logging.getLogger("alembic").setLevel(level)
    if args.serve:
        return _demo_serve(args)
    from bot.demo.tour import KeepDbError, interactive, run_script

    policy = Path(args.policy)
    keep_db = Path(args.keep_db) if args.keep_db else None
    try:
        if args.script:
            with open(args.script, encoding="utf-8") as lines:
                return run_script(lines, policy, sys.stdout, keep_db=keep_db)
        return interactive(policy, keep_db=keep_db)
    except KeepDbError as exc:
        sys.stderr.write(f"envbot demo --keep-db: {exc}\n")
        return 2


def _demo_serve(args: argparse.Namespace) -> int:
    """`envbot serve` itself, pointed by its settings at a local world (bot.demo.world)."""
    import contextlib
    import signal

    from bot.demo.world import World, WorldError
    from bot.policy import load_policy

    policy_path = Path(args.policy)
    keep_db = Path(args.keep_db) if args.keep_db else None
    crds: Path | str | None = Path(args.crds) if args.crds else "auto"
    # Ctrl-C and SIGTERM both stop it (a shell starts background jobs with SIGINT ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    code = 0
    try:
        with World(
            load_policy(policy_path),
            policy_path,
            sys.stdout,
            port=args.port,
            keep_db=keep_db,
            crds=crds,
        ) as world:
            world.announce()
            with contextlib.suppress(KeyboardInterrupt):
                code = cmd_serve(build_parser().parse_args(["serve", "--migrate"]))
    except KeyboardInterrupt:  # while the world was starting
        pass
    except WorldError as exc:
        sys.stderr.write(f"envbot demo --serve: {exc}\n")
        return 2
    sys.stdout.write("demo world stopped\n")
    sys.stdout.flush()
    return code


def cmd_demo_send(args: argparse.Namespace) -> int:
    """Send one signed slash command to a running `envbot demo --serve`."""
    from bot.demo.send import SendError, load_world, send

    try:
        return send(args.line, load_world(args.world), args.as_user, args.channel, sys.stdout)
    except SendError as exc:
        sys.stderr.write(f"envbot demo send: {exc}\n")
        return 2


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the bot: HTTP (signed requests) or Socket Mode, plus the background jobs."""
    from bot.db.revision import schema_ready
    from bot.domain.clock import SystemClock
    from bot.heap import freeze_startup_heap
    from bot.policy import file_warnings
    from bot.preflight import StartupError, preflight
    from bot.server import HttpServer, make_wsgi_app
    from bot.shutdown import StopSignal, drain
    from bot.slack.client import make_client
    from bot.slack.directory import SlackDirectory
    from bot.wiring import build_runtime
    from handlers.transport import connect_socket_mode
    from provisioning.kube.client import KubeClients
    from provisioning.registry import build_access_backends, build_environment_backends

    settings = load_settings()
    logger.info("effective settings: %s", settings.masked())
    try:
        ready = preflight(settings, apply_migrations=args.migrate)
    except StartupError as exc:
        sys.stderr.write(f"envbot serve: {exc}\n")
        return 2
    policy = ready.policy
    for line in file_warnings(settings.policy_file, policy):
        logger.warning("policy: %s", line)
    slack = settings.slack
    app_token = slack.app_token
    url = settings.database_url.get_secret_value()
    client = make_client(ready.bot_token, slack.api_url)
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
        ack_commit=settings.database.ack_commit,
        ack_journal=settings.ack_journal_path(),
    )
    freeze_startup_heap()  # full collections skip start-up's objects (bot/heap.py)
    stop = StopSignal()
    stop.install()
    wsgi = make_wsgi_app(
        runtime.app, ready=lambda: not stop.requested and schema_ready(runtime.engine, ready.head)
    )
    server = HttpServer(wsgi, settings.http_host, settings.http_port).start()
    # The jobs start once the listener answers: readiness does not wait on their threads.
    scheduler = runtime.jobs.start_background()
    # Health, readiness and metrics stay on HTTP; in Socket Mode Slack's requests come over it.
    close_socket = (
        connect_socket_mode(runtime.app, app_token.get_secret_value()) if app_token else None
    )

    def stop_receiving() -> None:
        if close_socket is not None:
            close_socket()
        server.stop()

    stop.wait()
    drain(runtime, scheduler, stop_receiving, delay=settings.shutdown_delay)
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
    url = args.database_url or load_settings().database_url.get_secret_value()
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
    """Check settings, policy, database, Slack, Kubernetes and AWS, printing each line as it
    completes; exit 1 if any check fails."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from bot.doctor import iter_checks

    marks = _marks()
    failed = False
    for check in iter_checks():
        mark = marks[0] if not check.ok else marks[1] if check.warn else marks[2]
        failed = failed or not check.ok
        sys.stdout.write(f"{mark} {check.name}: {check.detail}\n")
        sys.stdout.flush()
    return 1 if failed else 0


def _marks() -> tuple[str, str, str]:
    """Failed, warning and passed marks: ✗ ! ✓, or plain words where stdout cannot show them."""
    try:
        "✗✓".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "FAIL", "WARN", "ok  "
    return "✗", "!", "✓"


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
    p.add_argument("--keep-db", metavar="PATH", help="SQLite file to keep (for audit export)")
    p.add_argument("--serve", action="store_true", help="run `serve` on fake Slack and Kubernetes")
    p.add_argument("--port", type=int, default=3000, help="--serve: port on 127.0.0.1 (0: any)")
    p.add_argument("--crds", metavar="DIR", help="--serve: CRD schemas (default ../shared/crds)")
    p.set_defaults(func=cmd_demo)
    demo_sub = p.add_subparsers(dest="demo_command")
    p = demo_sub.add_parser("send", help="send a signed slash command to `demo --serve`")
    p.add_argument("line", help="e.g. '/env create sandbox'")
    p.add_argument("--as", dest="as_user", default="alice", help="demo user (default alice)")
    p.add_argument("--channel", default="platform", help="channel (default platform)")
    p.add_argument("--world", help="world file (default $ENVBOT_DEMO_WORLD)")
    p.set_defaults(func=cmd_demo_send)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `envbot` console script."""
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        if args.command == "serve":
            settings = load_settings()
            configure_logging(settings.log_level, settings.log_json)
        else:
            configure_logging("INFO")
        return func(args)
    except SettingsError as exc:
        sys.stderr.write(f"envbot {args.command}: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
