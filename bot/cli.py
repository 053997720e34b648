"""The `envbot` command: the composition root that parses arguments and starts the right thing."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.settings import Settings

logger = logging.getLogger(__name__)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply the Alembic migrations (or go down with --downgrade REV)."""
    from bot.db import migrate

    url = args.database_url or Settings().database_url.get_secret_value()
    if args.downgrade:
        migrate.downgrade(url, args.downgrade)
    else:
        migrate.upgrade(url)
    return 0


def cmd_policy_check(args: argparse.Namespace) -> int:
    """Validate a policy file; list every error and exit 1 when there is one."""
    from bot.policy import check_policy_file

    path = Path(args.file or Settings().policy_file)
    errors = check_policy_file(path)
    for line in errors:
        sys.stderr.write(line + "\n")
    if errors:
        sys.stderr.write(f"{path}: {len(errors)} error(s)\n")
        return 1
    sys.stdout.write(f"{path}: ok\n")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo world: a tour script, or a prompt."""
    level = logging.INFO if args.verbose else logging.WARNING
    logging.getLogger().setLevel(level)
    logging.getLogger("alembic").setLevel(level)
    from bot.demo.console import interactive, run_script

    policy = Path(args.policy)
    if args.script:
        with open(args.script, encoding="utf-8") as lines:
            return run_script(lines, policy, sys.stdout)
    return interactive(policy)


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

    p = sub.add_parser("demo", help="the embedded demo: fake Slack, in-memory backends, SQLite")
    p.add_argument("--script", help="run this tour instead of a prompt")
    p.add_argument("--policy", default="examples/policy.yaml", help="policy file to use")
    p.add_argument("-v", "--verbose", action="store_true", help="show the bot's logs")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `envbot` console script."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
