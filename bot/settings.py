"""Process settings from `ENVBOT_*` env vars or mounted secret files (pydantic-settings).

Secrets and connections live here; *what* may be requested lives in the policy file. Each
secret can also be read from a file: `ENVBOT_SLACK__BOT_TOKEN_FILE=/run/secrets/bot-token`,
or a file named after the variable (`ENVBOT_SLACK__BOT_TOKEN`) in `ENVBOT_SECRETS_DIR`.
An empty variable or secret file counts as unset, for every setting. `load_settings` turns a
bad value into one line naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_data_dir
from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PREFIX = "ENVBOT_"
SECRET_FIELDS: tuple[tuple[str, ...], ...] = (
    ("slack", "bot_token"),
    ("slack", "app_token"),
    ("slack", "signing_secret"),
    ("database_url",),
)


def default_database_url() -> str:
    """SQLite in the user's data directory: the single-machine default."""
    return f"sqlite:///{Path(user_data_dir('envbot')) / 'envbot.db'}"


class SlackSettings(BaseModel):
    """Slack credentials; Socket Mode when `app_token` is set, otherwise signed HTTP."""

    bot_token: SecretStr | None = None
    app_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    api_url: str = "https://slack.com/api/"
    # The installed workspace (and Enterprise Grid org): a request signed with our secret but
    # from another team is refused. `envbot doctor` prints the values `auth.test` reports.
    team_id: str | None = None
    enterprise_id: str | None = None

    @field_validator("bot_token", "app_token", "signing_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # An empty variable or secret file means "not set", not an empty token.
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return value


class JobSettings(BaseModel):
    """How often each background job runs, in seconds."""

    outbox_interval: float = 1.0
    # A message left `sending` (a crash between Slack's accept and the commit) is looked up
    # in the conversation and, if not found, sent again only after this many seconds.
    outbox_resume_after: float = Field(default=120.0, gt=0)
    # The drain sends to this many channels at once, keeps going while a message is due within
    # `outbox_linger` seconds, and paces all posts to `outbox_workspace_rate` a second (0: only
    # Slack's 429s pace them); see docs/PERFORMANCE.md "P3 delivery".
    outbox_workers: int = Field(default=4, ge=1)
    outbox_linger: float = Field(default=2.0, ge=0)
    outbox_workspace_rate: float = Field(default=0.0, ge=0)
    reconcile_interval: float = 15.0
    # At most this many environment creates (and deletes, refreshes) run at once, beside the
    # reconcile passes, which never wait for them; 0 runs them one after another in the pass.
    create_concurrency: int = Field(default=8, ge=0, le=64)
    expiry_interval: float = 60.0
    reminder_interval: float = 60.0
    retention_interval: float = 3600.0
    # PostgreSQL only: a standby takes the jobs over within this many seconds of the leader
    # going silent (killed, frozen or cut off); bot/leader.py says how.
    leader_lease: float = Field(default=15.0, ge=1.0)
    # An acknowledged command, click or event whose worker died (kill -9, a lost replica) is
    # run again this many seconds after it was taken (handlers/intake.py).
    inbox_lease: float = Field(default=60.0, gt=0)


#: How an acknowledged request's record commits on PostgreSQL (SQLite's never waits for the disk).
AckCommit = Literal["fast", "durable"]
DEFAULT_ACK_COMMIT: AckCommit = "durable"


class DatabaseSettings(BaseModel):
    """How envbot uses its database (the URL is `database_url`)."""

    # `fast`: the ack's record is committed with synchronous_commit off (that statement only):
    # a crash of envbot loses nothing, a crash of the PostgreSQL server (or its machine) may
    # lose the acks of its last ~0.6 s (3 x wal_writer_delay), as SQLite's synchronous=NORMAL
    # may on a power loss. `durable`: the ack waits for the WAL flush. docs/RELIABILITY.md.
    ack_commit: AckCommit = DEFAULT_ACK_COMMIT


class Settings(BaseSettings):
    """Everything the process needs that is not policy."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_nested_delimiter="__",
        env_ignore_empty=True,  # an empty variable is unset, so the default applies
        extra="ignore",
        frozen=True,
    )

    slack: SlackSettings = Field(default_factory=SlackSettings)
    database_url: SecretStr = Field(default_factory=lambda: SecretStr(default_database_url()))
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    # A file the acks are journaled to before the database (bot/services/journal.py): survives
    # a kill -9 of envbot, not the loss of the file (a volume per replica). Unset: beside a
    # SQLite database file (`<file>-acks`), off for PostgreSQL; `off`: off. `ack_journal_path`.
    ack_journal: str | None = None
    policy_file: Path = Path("policy.yaml")
    kubeconfig: Path | None = None
    kube_context: str | None = None
    http_host: str = "0.0.0.0"  # noqa: S104 - a container listens on all interfaces
    http_port: int = 3000
    # After SIGTERM /readyz answers 503 and requests are still served this long (bot/shutdown.py).
    shutdown_delay: float = Field(default=5.0, ge=0.0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False
    jobs: JobSettings = Field(default_factory=JobSettings)
    # This install's id; `envbot migrate` stores it (a fresh one when unset), and a process
    # whose ENVBOT_INSTALL_ID disagrees with the stored one refuses to start.
    install_id: str | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, SecretFileSource(settings_cls))

    def ack_journal_path(self) -> Path | None:
        """The ack journal's file, or None for acks written to the database before they go.

        Unset, a SQLite database file gets its journal beside it: the journal survives what
        that file survives (a kill -9, not a power loss, as `synchronous=NORMAL`), so it adds
        no risk. PostgreSQL has no local file to stand beside: the journal is on where
        ENVBOT_ACK_JOURNAL names a file (deploy/deployment.yaml does), docs/RELIABILITY.md.
        """
        value = (self.ack_journal or "").strip()
        if value.lower() in _OFF:
            return None
        if value:
            return Path(value)
        return sqlite_file_of(self.database_url.get_secret_value(), "-acks")

    def masked(self) -> dict[str, Any]:
        """The effective settings with every secret shown as `**********`, for the startup log."""
        return self.model_dump(mode="json")


class SecretFileSource(PydanticBaseSettingsSource):
    """Reads secrets from `<VAR>_FILE` paths or from files in `ENVBOT_SECRETS_DIR`."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        secrets_dir = os.environ.get(f"{PREFIX}SECRETS_DIR")
        for path in SECRET_FIELDS:
            var = PREFIX + "__".join(p.upper() for p in path)
            if os.environ.get(var):
                continue
            value = _read_secret(var, secrets_dir)
            if not value:  # no file, or an empty one: unset
                continue
            target = found
            for part in path[:-1]:
                target = target.setdefault(part, {})
            target[path[-1]] = value
        return found


def _read_secret(var: str, secrets_dir: str | None) -> str | None:
    file_var = os.environ.get(f"{var}_FILE")
    candidates = [Path(file_var)] if file_var else []
    if secrets_dir:
        candidates.append(Path(secrets_dir) / var)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8").strip()
        if file_var and candidate == Path(file_var):
            raise ValueError(f"{var}_FILE points at {candidate}, which is not a readable file")
    return None


_OFF = ("off", "none", "false", "no", "0")


def sqlite_file_of(url: str, suffix: str) -> Path | None:
    """`<the SQLite database file><suffix>` for a SQLite file URL; None for anything else
    (PostgreSQL, an in-memory or URI-style SQLite database)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:") or parsed.query.get("uri"):
        return None
    return Path(database + suffix)


def missing_policy_file(settings: Settings) -> str | None:
    """Where the policy file was looked for, when it is not there (None when it is)."""
    path = settings.policy_file
    if path.is_file():
        return None
    how = "is" if "policy_file" in settings.model_fields_set else "is unset; the default is"
    return (
        f"no policy file at {path.absolute()} (ENVBOT_POLICY_FILE {how} {path}); set "
        "ENVBOT_POLICY_FILE to your policy file (examples/policy.yaml documents every key)"
    )


class SettingsError(ValueError):
    """A setting has a value it cannot take; the message is one line naming the variable."""


def load_settings() -> Settings:
    """The settings from the environment and secret files.

    Raises:
        SettingsError: a value is invalid (one line per problem, joined by "; ").
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(
            "; ".join(
                _describe(error["loc"], error["input"], error["msg"]) for error in exc.errors()
            )
        ) from None
    except ValueError as exc:  # a <VAR>_FILE that is not a file
        raise SettingsError(str(exc)) from None


def _describe(loc: tuple[int | str, ...], value: object, msg: str) -> str:
    path = tuple(str(part) for part in loc)
    var = PREFIX + "__".join(part.upper() for part in path)
    secret = any(path[: len(s)] == s for s in SECRET_FIELDS)
    shown = "" if secret or isinstance(value, dict) else f" is {value!r}:"
    return f"{var}{shown} {msg[:1].lower()}{msg[1:]}; fix it or unset it to use the default"
