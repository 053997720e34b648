"""What `envbot serve` checks before it starts anything: the policy, the Slack secrets, and a
database that answers, has this code's schema and an install id. Each problem is one line in
doctor's words (`StartupError`), never a traceback."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from bot.db.install import InstallIdError, load_install_id
from bot.db.revision import (
    code_head,
    database_revision,
    missing_sqlite_file,
    newer_than_code,
    schema_problem,
)
from bot.db.session import make_engine
from bot.policy import Policy, PolicyError, load_policy
from bot.settings import Settings, missing_policy_file


class StartupError(Exception):
    """`envbot serve` cannot start; the message says why and what to do, in one line."""


@dataclass(frozen=True)
class Preflight:
    """What passed: the loaded policy, the bot token and the schema revision /readyz compares
    against."""

    policy: Policy
    bot_token: str
    head: str


def preflight(settings: Settings, *, apply_migrations: bool) -> Preflight:
    """Check (and with `apply_migrations`, first migrate) everything `serve` needs.

    Raises:
        StartupError: the first problem found.
    """
    policy = _policy(settings)
    bot_token = _slack(settings)
    head = _database(settings, apply_migrations)
    return Preflight(policy, bot_token, head)


def _policy(settings: Settings) -> Policy:
    missing = missing_policy_file(settings)
    if missing:
        raise StartupError(missing)
    try:  # read once: `check_policy_file` and then `load_policy` parsed and validated it twice
        return load_policy(settings.policy_file)
    except PolicyError as exc:
        errors = exc.errors
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise StartupError(
            f"{errors[0]}{more}; set ENVBOT_POLICY_FILE to your policy file and check it with "
            "`envbot policy check`"
        ) from None


def _slack(settings: Settings) -> str:
    slack = settings.slack
    if slack.bot_token is None:
        raise StartupError(
            "ENVBOT_SLACK__BOT_TOKEN is not set (or _FILE / ENVBOT_SECRETS_DIR); it is the Bot "
            "User OAuth Token of the Slack app"
        )
    if slack.app_token is None and slack.signing_secret is None:
        raise StartupError(
            "HTTP mode needs ENVBOT_SLACK__SIGNING_SECRET (or set ENVBOT_SLACK__APP_TOKEN for "
            "Socket Mode)"
        )
    return slack.bot_token.get_secret_value()


def _database(settings: Settings, apply_migrations: bool) -> str:
    url = settings.database_url.get_secret_value()
    head = code_head()
    try:
        exists = missing_sqlite_file(url) is None
        if not exists and not apply_migrations:
            raise StartupError(str(schema_problem(None, head)))
        if apply_migrations:
            if exists:  # a newer envbot's schema is not ours to migrate (Alembic cannot)
                _check(url, head, settings.install_id, newer_only=True)
            from bot.db import migrate  # Alembic loads only to migrate (docs/PERFORMANCE.md, P5)

            migrate.upgrade(url, install_id=settings.install_id)
        _check(url, head, settings.install_id)
    except InstallIdError as exc:
        raise StartupError(str(exc)) from None
    except (SQLAlchemyError, ImportError) as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        raise StartupError(
            f"cannot reach the database ({exc.__class__.__name__}: {first}); check "
            "ENVBOT_DATABASE_URL and that the database is up"
        ) from None
    return head


def _check(url: str, head: str, install_id: str | None, *, newer_only: bool = False) -> None:
    engine = make_engine(url)
    try:
        current = database_revision(engine)
        if newer_only and not newer_than_code(current):
            return
        problem = schema_problem(current, head)
        if problem:
            raise StartupError(problem)
        load_install_id(engine, install_id)
    finally:
        engine.dispose()
