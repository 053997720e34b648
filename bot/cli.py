"""The `envbot` command: the composition root that parses arguments and starts the right thing."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="envbot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.add_argument("--database-url", help="overrides ENVBOT_DATABASE_URL")
    p.add_argument("--downgrade", metavar="REV", help="downgrade to REV (e.g. base) instead")
    p.set_defaults(func=cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `envbot` console script."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
