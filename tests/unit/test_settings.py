"""Settings: empty counts as unset for every variable and secret file, levels in any case, and a
bad value is one line naming the variable (never pydantic's dump, never a secret's value)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.settings import (
    Settings,
    SettingsError,
    default_database_url,
    load_settings,
    missing_policy_file,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ENVBOT_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    "name",
    [
        "ENVBOT_DATABASE_URL",
        "ENVBOT_POLICY_FILE",
        "ENVBOT_KUBECONFIG",
        "ENVBOT_KUBE_CONTEXT",
        "ENVBOT_HTTP_HOST",
        "ENVBOT_HTTP_PORT",
        "ENVBOT_LOG_LEVEL",
        "ENVBOT_LOG_JSON",
        "ENVBOT_INSTALL_ID",
        "ENVBOT_SLACK__BOT_TOKEN",
        "ENVBOT_SLACK__API_URL",
        "ENVBOT_SLACK__TEAM_ID",
        "ENVBOT_JOBS__OUTBOX_INTERVAL",
        "ENVBOT_JOBS__LEADER_LEASE",
        "ENVBOT_DATABASE__ACK_COMMIT",
    ],
)
def test_an_empty_variable_is_unset(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv(name, "")
    assert load_settings() == Settings()  # every default, nothing empty


def test_defaults_when_nothing_is_set() -> None:
    settings = load_settings()
    assert settings.database_url.get_secret_value() == default_database_url()
    assert settings.http_port == 3000
    assert settings.kubeconfig is None
    assert settings.log_level == "INFO"


@pytest.mark.parametrize("mode", ["fast", "durable"])
def test_the_ack_commit_is_read_from_its_variable(
    monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    monkeypatch.setenv("ENVBOT_DATABASE__ACK_COMMIT", mode)
    assert load_settings().database.ack_commit == mode


def test_the_ack_journal_is_beside_a_sqlite_file_unless_its_variable_says_otherwise(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ENVBOT_ACK_JOURNAL", raising=False)
    monkeypatch.setenv("ENVBOT_DATABASE_URL", f"sqlite:///{tmp_path}/envbot.db")
    assert load_settings().ack_journal_path() == tmp_path / "envbot.db-acks"
    monkeypatch.setenv("ENVBOT_ACK_JOURNAL", "/var/lib/envbot/acks")
    assert load_settings().ack_journal_path() == Path("/var/lib/envbot/acks")
    for off in ("off", "OFF", "none", "false", "0"):
        monkeypatch.setenv("ENVBOT_ACK_JOURNAL", off)
        assert load_settings().ack_journal_path() is None


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://envbot@db:5432/envbot",  # no local file to stand beside
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:mem?mode=memory&uri=true",
        "not a url",
    ],
)
def test_no_ack_journal_by_default_without_a_sqlite_file(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.delenv("ENVBOT_ACK_JOURNAL", raising=False)
    monkeypatch.setenv("ENVBOT_DATABASE_URL", url)
    assert load_settings().ack_journal_path() is None
    monkeypatch.setenv("ENVBOT_ACK_JOURNAL", "/var/lib/envbot/acks")
    assert load_settings().ack_journal_path() == Path("/var/lib/envbot/acks")


def test_a_bad_ack_commit_names_the_variable_and_the_choices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVBOT_DATABASE__ACK_COMMIT", "async")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value) == (
        "ENVBOT_DATABASE__ACK_COMMIT is 'async': input should be 'fast' or 'durable'; "
        "fix it or unset it to use the default"
    )


@pytest.mark.parametrize(("given", "level"), [("debug", "DEBUG"), ("Warning", "WARNING")])
def test_log_level_in_any_case(monkeypatch: pytest.MonkeyPatch, given: str, level: str) -> None:
    monkeypatch.setenv("ENVBOT_LOG_LEVEL", given)
    assert load_settings().log_level == level


def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVBOT_JOBS__OUTBOX_INTERVAL", "soon")
    monkeypatch.setenv("ENVBOT_LOG_JSON", "maybe")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value) == (
        "ENVBOT_LOG_JSON is 'maybe': input should be a valid boolean, unable to interpret input; "
        "fix it or unset it to use the default; ENVBOT_JOBS__OUTBOX_INTERVAL is 'soon': input "
        "should be a valid number, unable to parse string as a number; fix it or unset it to use "
        "the default"
    )


def test_an_empty_variable_lets_the_secret_file_through(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "ENVBOT_SLACK__BOT_TOKEN").write_text("xoxb-from-file\n")
    monkeypatch.setenv("ENVBOT_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("ENVBOT_SLACK__BOT_TOKEN", "")
    token = load_settings().slack.bot_token
    assert token is not None
    assert token.get_secret_value() == "xoxb-from-file"


def test_an_empty_secret_file_is_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "ENVBOT_DATABASE_URL").write_text("\n")
    monkeypatch.setenv("ENVBOT_SECRETS_DIR", str(tmp_path))
    assert load_settings().database_url.get_secret_value() == default_database_url()


def test_a_secret_file_that_is_not_there_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENVBOT_SLACK__BOT_TOKEN_FILE", str(tmp_path / "nope"))
    with pytest.raises(SettingsError, match=r"^ENVBOT_SLACK__BOT_TOKEN_FILE points at .*nope"):
        load_settings()


def test_missing_policy_file_says_whether_it_is_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    assert missing_policy_file(load_settings()) == (
        f"no policy file at {tmp_path / 'policy.yaml'} (ENVBOT_POLICY_FILE is unset; the default "
        "is policy.yaml); set ENVBOT_POLICY_FILE to your policy file (examples/policy.yaml "
        "documents every key)"
    )
    (tmp_path / "policy.yaml").write_text("{}")
    assert missing_policy_file(load_settings()) is None
